-- Identity and access (issue 3): throttling, customer security policy, token
-- roles, session rotation, break-glass grants, TOTP. Portable SQL only.

-- +goose Up

-- The language of the mails an account receives ('ja' or 'en').
ALTER TABLE accounts ADD COLUMN language TEXT NOT NULL DEFAULT 'ja';

-- Failed logins, kept 24 hours. login_key is the login ID as typed, so that an
-- unknown ID is throttled exactly like a real one (no enumeration by lockout).
CREATE TABLE login_failures (
    login_key  TEXT NOT NULL,
    source_ip  TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (login_key, at);
CREATE INDEX login_failures_ip ON login_failures (source_ip, at);

-- A locked login ID refuses every login until locked_until.
CREATE TABLE login_locks (
    login_key     TEXT PRIMARY KEY,
    locked_until  TEXT NOT NULL
);

-- The customer's own security policy (ISO/IEC 27017 9.2.3). allow_list is a
-- comma-separated list of prefixes; empty means no restriction.
CREATE TABLE customer_security (
    customer_id     TEXT PRIMARY KEY REFERENCES customers (id),
    allow_list      TEXT NOT NULL,
    require_mfa     BOOLEAN NOT NULL,
    require_device  BOOLEAN NOT NULL,
    updated_at      TEXT NOT NULL
);

-- An API token acts with at most this role (role scoping); the reminder is
-- sent 14 days before expiry.
ALTER TABLE api_tokens ADD COLUMN role TEXT;
ALTER TABLE api_tokens ADD COLUMN reminded_at TEXT;

-- The role a session was opened or last rotated with: a request that finds
-- the account's role changed rotates the session ID (privilege change).
ALTER TABLE sessions ADD COLUMN role TEXT;
ALTER TABLE sessions ADD COLUMN id TEXT;
ALTER TABLE sessions ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX sessions_public_id ON sessions (id);

-- Break-glass: an operator's time-limited, reasoned access to one customer's
-- saved data.
CREATE TABLE break_glass_grants (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    reason       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    closed_at    TEXT
);
CREATE INDEX break_glass_account ON break_glass_grants (account_id, customer_id);

-- TOTP (RFC 6238): the secret, and the last time step accepted, so a code is
-- never accepted twice.
CREATE TABLE totp_secrets (
    account_id    TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret        TEXT NOT NULL,
    confirmed_at  TEXT,
    last_step     BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (account_id, code_hash)
);

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
DROP TABLE break_glass_grants;
DROP INDEX sessions_public_id;
ALTER TABLE sessions DROP COLUMN mfa;
ALTER TABLE sessions DROP COLUMN id;
ALTER TABLE sessions DROP COLUMN role;
ALTER TABLE api_tokens DROP COLUMN reminded_at;
ALTER TABLE api_tokens DROP COLUMN role;
DROP TABLE customer_security;
DROP TABLE login_locks;
DROP TABLE login_failures;
ALTER TABLE accounts DROP COLUMN language;
