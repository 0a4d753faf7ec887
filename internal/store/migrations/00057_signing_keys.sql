-- The controller's Ed25519 signing keyring (internal/signing): what it signs
-- (deletion certificates, later the audit log's heads) is checked by anyone
-- with the public keys, which GET /api/v1/signing-keys publishes. The
-- private key is sealed with the controller's secret key (store.Secrets).
-- Exactly one key is current (retired_at NULL); a rotation retires it and
-- adds a new one, and a retired key's public half stays listed so that what
-- it signed still verifies. Rows are never deleted. Portable SQL only.

-- +goose Up
CREATE TABLE signing_keys (
    id              TEXT PRIMARY KEY,
    public_key      TEXT NOT NULL,
    sealed_private  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    retired_at      TEXT
);

-- +goose Down
DROP TABLE signing_keys;
