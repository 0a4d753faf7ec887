-- The outbox is listed newest first, paged from an entry (mail/outbox.go
-- List: ORDER BY created_at DESC, id DESC): an index on the same keys keeps
-- a page a range read however long the outbox grows. Portable SQL only.

-- +goose Up
CREATE INDEX mail_outbox_created ON mail_outbox (created_at, id);

-- +goose Down
DROP INDEX mail_outbox_created;
