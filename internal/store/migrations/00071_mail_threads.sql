-- Mail threading: the Message-IDs a mail answers (In-Reply-To is the last,
-- References all of them, space-separated, each without angle brackets),
-- so that a notice's updates and a report's replies thread in the
-- recipient's mail client. Portable SQL only.

-- +goose Up
ALTER TABLE mail_outbox ADD COLUMN refs TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE mail_outbox DROP COLUMN refs;
