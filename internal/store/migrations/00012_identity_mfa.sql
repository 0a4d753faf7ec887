-- Identity and access, second part (issue 3): WebAuthn credentials and
-- ceremonies, registered device certificates, and the reset point of the
-- login throttle. Portable SQL only.

-- +goose Up

-- Failures before reset_at (the last lock, unlock or successful login) no
-- longer count toward a lock of the login ID; they still count for the
-- source address.
ALTER TABLE login_locks ADD COLUMN reset_at TEXT NOT NULL DEFAULT '';

-- WebAuthn / FIDO2 credentials (the library's Credential as JSON) and the
-- pending challenges of registration and login ceremonies, one per session
-- and purpose, deleted when used.
CREATE TABLE webauthn_credentials (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE INDEX webauthn_credentials_account ON webauthn_credentials (account_id);

CREATE TABLE webauthn_challenges (
    session_id  TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    data        TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (session_id, purpose)
);

-- Registered client certificates of a customer's devices, pinned by the
-- SHA-256 of the certificate.
CREATE TABLE device_certificates (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    name         TEXT NOT NULL,
    fingerprint  TEXT NOT NULL UNIQUE,
    subject      TEXT NOT NULL,
    not_after    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX device_certificates_customer ON device_certificates (customer_id);

-- The registered device a session was opened from; revoking the device ends
-- the session.
ALTER TABLE sessions ADD COLUMN device_id TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN device_id;
DROP TABLE device_certificates;
DROP TABLE webauthn_challenges;
DROP TABLE webauthn_credentials;
ALTER TABLE login_locks DROP COLUMN reset_at;
