-- The mail outbox (issue 3, item 10). A mail is written in the same
-- transaction as the event that causes it; a sender worker delivers it.

-- +goose Up
CREATE TABLE mail_outbox (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT,
    cause            TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    language         TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         BIGINT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT,
    last_error       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);

-- +goose Down
DROP TABLE mail_outbox;
