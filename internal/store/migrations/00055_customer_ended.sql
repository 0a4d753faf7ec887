-- When a terminated customer was ended (identity/customerend.go): the
-- customer.end job sets it on day 1, the day after the last termination date
-- (JST), in the same transaction that deletes the customer's sessions, API
-- tokens and pending links. It is that job's done marker, and while it is set
-- no account of the customer authenticates. NULL: not ended (still active, or
-- terminated and within its paid service up to the termination date).
-- customers.status keeps its two values: SQLite cannot alter a CHECK
-- constraint without rebuilding the table.
-- Portable SQL only.

-- +goose Up
ALTER TABLE customers ADD COLUMN ended_at TEXT;

-- +goose Down
ALTER TABLE customers DROP COLUMN ended_at;
