-- Hub-node enrolment and mutual TLS: the controller's internal CA, one-time
-- enrolment tokens, the certificates issued to nodes (for revocation) and the
-- last status each node reported. Operator data, apart from customers' saved
-- data (ISO/IEC 27017 8.1.1).

-- +goose Up
CREATE TABLE node_ca (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    cert_pem    TEXT NOT NULL,
    key_pem     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE node_enrolment_tokens (
    token_hash  TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL REFERENCES hub_nodes (id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX node_enrolment_tokens_node ON node_enrolment_tokens (node_id);

CREATE TABLE node_certs (
    serial      TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL REFERENCES hub_nodes (id),
    issued_at   TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX node_certs_node ON node_certs (node_id);

CREATE TABLE node_status (
    node_id              TEXT PRIMARY KEY REFERENCES hub_nodes (id),
    reported_at          TEXT NOT NULL,
    applied_generation   TEXT NOT NULL,
    agent_version        TEXT NOT NULL,
    report               TEXT NOT NULL
);

-- +goose Down
DROP TABLE node_status;
DROP TABLE node_certs;
DROP TABLE node_enrolment_tokens;
DROP TABLE node_ca;
