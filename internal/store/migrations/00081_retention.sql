-- Retention (internal/evidence/retention.go, job records.expire): the
-- notification log is cut by time, and a mail the log still names is kept
-- with its row, so the daily run reads notice_deliveries by created_at and
-- by mail_id; without these indexes each run would read the whole log
-- (SQLite: once per mail). Portable SQL only.

-- +goose Up
CREATE INDEX notice_deliveries_created ON notice_deliveries (created_at);
CREATE INDEX notice_deliveries_mail ON notice_deliveries (mail_id);

-- +goose Down
DROP INDEX notice_deliveries_mail;
DROP INDEX notice_deliveries_created;
