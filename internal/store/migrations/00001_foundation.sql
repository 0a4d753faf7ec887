-- tsunagi's foundation schema. Portable SQL only: it runs unchanged on SQLite
-- and PostgreSQL. Identifiers are random text (package ids), instants are
-- fixed-width UTC text (package clock), calendar dates are JST 'YYYY-MM-DD'.
-- What differs between the engines lives in Go migrations (see dialect.go).

-- +goose Up

-- Every service and port code ever issued. Rows are never deleted, not even
-- by a customer's purge, so a code is never reused (ISO/IEC 27017 8.2.2).
CREATE TABLE issued_codes (
    code       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('shb', 'shc')),
    issued_at  TEXT NOT NULL
);

-- Regions and the declared location of the data kept for them (6.1.3, 18.1.1).
CREATE TABLE regions (
    id             TEXT PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,
    name_en        TEXT NOT NULL,
    name_ja        TEXT NOT NULL,
    data_location  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE customers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'terminated')),
    created_at     TEXT NOT NULL,
    -- Set when the last contract's termination date is fixed: the purge
    -- (CLD.8.1.5) counts the day after terminated_on as day 1 of 90.
    terminated_on  TEXT,
    purge_due_on   TEXT
);

-- A contract is one contracted service, identified by its service code.
CREATE TABLE contracts (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers (id),
    service_code      TEXT NOT NULL UNIQUE REFERENCES issued_codes (code),
    plan              TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    start_date        TEXT NOT NULL,
    termination_date  TEXT,
    cancelled_at      TEXT,
    cancel_reason     TEXT,
    created_at        TEXT NOT NULL
);
CREATE INDEX contracts_customer ON contracts (customer_id, service_code);

-- Options bought on a contract (e.g. static NAT addresses, NAPT grades).
CREATE TABLE contract_options (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    contract_id  TEXT NOT NULL REFERENCES contracts (id),
    name         TEXT NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    created_at   TEXT NOT NULL,
    UNIQUE (contract_id, name)
);

-- One hub per customer per region; a customer's hubs form its DR group.
CREATE TABLE hubs (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    contract_id  TEXT NOT NULL REFERENCES contracts (id),
    region_id    TEXT NOT NULL REFERENCES regions (id),
    priority     TEXT NOT NULL CHECK (priority IN ('main', 'sub', 'backup')),
    created_at   TEXT NOT NULL,
    UNIQUE (customer_id, region_id),
    UNIQUE (customer_id, priority)
);

-- A port is a contracted connection on a hub, identified by its port code.
-- Its configuration (addresses, routing, firewall, NAT) is the customer's
-- saved data and lives in the service model's own tables.
CREATE TABLE ports (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    contract_id   TEXT NOT NULL REFERENCES contracts (id),
    hub_id        TEXT NOT NULL REFERENCES hubs (id),
    port_code     TEXT NOT NULL UNIQUE REFERENCES issued_codes (code),
    kind          TEXT NOT NULL,
    speed_mbps    BIGINT NOT NULL CHECK (speed_mbps > 0),
    redundant     BOOLEAN NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    created_at    TEXT NOT NULL
);
CREATE INDEX ports_customer ON ports (customer_id, port_code);

-- Operator inventory: hub nodes and their physical ports.
CREATE TABLE hub_nodes (
    id          TEXT PRIMARY KEY,
    region_id   TEXT NOT NULL REFERENCES regions (id),
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE physical_ports (
    id                TEXT PRIMARY KEY,
    node_id           TEXT NOT NULL REFERENCES hub_nodes (id),
    name              TEXT NOT NULL,
    speed_mbps        BIGINT NOT NULL CHECK (speed_mbps > 0),
    kind              TEXT NOT NULL,
    oversubscription  DOUBLE PRECISION NOT NULL CHECK (oversubscription >= 1),
    created_at        TEXT NOT NULL,
    UNIQUE (node_id, name)
);

-- Accounts of operator staff (customer_id NULL) and of customers.
CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY,
    customer_id          TEXT REFERENCES customers (id),
    login_id             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL,
    email                TEXT NOT NULL,
    role                 TEXT NOT NULL,
    password_hash        TEXT,
    password_changed_at  TEXT,
    created_at           TEXT NOT NULL,
    disabled_at          TEXT
);

-- Single-use links: the first operator's setup, an invited account's setup.
CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    account_id  TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    source_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

-- The audit log: append-only (enforced by triggers, see dialect.go) and
-- hash-chained. audit_head is the single row that serialises appends: every
-- writer increments it inside its transaction, which orders the chain on both
-- engines and across several controllers.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    customer_id  TEXT,
    on_behalf_of TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    source_ip    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    result       TEXT NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_customer ON audit_events (customer_id, seq);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE audit_head;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE setup_tokens;
DROP TABLE accounts;
DROP TABLE physical_ports;
DROP TABLE hub_nodes;
DROP TABLE ports;
DROP TABLE hubs;
DROP TABLE contract_options;
DROP TABLE contracts;
DROP TABLE customers;
DROP TABLE regions;
DROP TABLE issued_codes;
