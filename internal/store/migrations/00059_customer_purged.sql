-- When a terminated customer's erasure finished (internal/lifecycle): the
-- customers row itself is kept (its company name, status and dates are the
-- contract record), with purged_at saying that nothing else of it remains.
-- Portable SQL only.

-- +goose Up
ALTER TABLE customers ADD COLUMN purged_at TEXT;

-- +goose Down
ALTER TABLE customers DROP COLUMN purged_at;
