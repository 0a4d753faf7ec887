-- Recovery of a customer's operations administrator (identity/recovery.go):
-- an operator requests, with a reason, that a new operations administrator
-- be invited for a customer locked out of its own; a security officer (never
-- the requester) approves or rejects it. The invitee's fields are kept so
-- that the officer approves exactly what is then invited. Portable SQL only.

-- +goose Up
CREATE TABLE account_recoveries (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL REFERENCES customers (id),
    status              TEXT NOT NULL,   -- requested, approved, rejected
    reason              TEXT NOT NULL,
    login_id            TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    email               TEXT NOT NULL,
    language            TEXT NOT NULL,
    requested_by        TEXT NOT NULL REFERENCES accounts (id),
    requested_by_login  TEXT NOT NULL,
    requested_at        TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    decided_by          TEXT REFERENCES accounts (id),
    decided_by_login    TEXT NOT NULL DEFAULT '',
    decided_at          TEXT,
    note                TEXT NOT NULL DEFAULT '',
    account_id          TEXT REFERENCES accounts (id)
);
CREATE INDEX account_recoveries_customer ON account_recoveries (customer_id, status);

-- +goose Down
DROP TABLE account_recoveries;
