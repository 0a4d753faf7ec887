-- Customer reports (internal/notice): the mail each report message caused
-- to the reporter, so that later mails of the same report thread under the
-- first (References = the earlier mail_ids of the report, oldest first;
-- the acknowledgement of the filing, on message 1, is the thread's root).
-- mail_id is the mail outbox entry ('' when the message mailed nobody: the
-- customer's own replies, or a reporter whose account is disabled).
-- Portable SQL only.

-- +goose Up
ALTER TABLE report_messages ADD COLUMN mail_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE report_messages DROP COLUMN mail_id;
