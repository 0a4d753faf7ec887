-- Notices (internal/notice, ISO/IEC 27017 12.1.2, 16.1.1, 5.1.1): the
-- operator's announcements (maintenance, service changes) and incidents,
-- the customers each one reaches, the history of every update, the mails
-- it caused (the notification log) and the customers' own notice contacts
-- and feed tokens. Portable SQL only.
--
-- notices: one row per announcement or incident, with its current text and
-- state. kind: announcement | incident. status: draft, published (an
-- announcement), investigating | identified | monitoring | resolved (an
-- incident), cancelled. scope is the operator's choice as JSON
-- ({"regions":[],"nodes":[],"physical_ports":[{"node":"","port":""}],
-- "hubs":[],"customers":[]}); the customers it resolved to are
-- notice_customers. source: operator, or the condition that opened an
-- automatic draft (node-silent, hub-unrealised) with auto_key naming the
-- condition's episode, so that one episode opens one draft whichever
-- controller sees it. security marks a security incident (5.1.1), whose
-- data_affected states what data it touched. A planned change that
-- touches forwarding inside the minimum notice period is published only
-- with a security officer's approval (approved_by, approval_reason,
-- approved_at). revision is the seq of the latest notice_updates row.
--
-- notice_updates: every step of a notice's history (publish, update,
-- status, cancel), with the text as it was then; what customers see as
-- the timeline once published (seq 1 = the draft's creation is not shown).
-- notice_customers: the customers a published notice reaches, from the
-- update (seq) at which each was first reached; reasons says why, as data
-- that each reader sees in its own language (JSON list of objects {kind:
-- hub-node|hub-region|hub|port-node|port-physical|customer, hub, port,
-- node, physical_port, region}, e.g. {"kind":"hub-node","hub":"hub_x",
-- "node":"tky-1"}).
-- notice_deliveries: the notification log — one row per mail a notice or
-- one of its updates caused, per recipient; delivery status is the mail
-- outbox entry's (mail_id). Threading reads mail_id too: a new mail's
-- References are the Message-IDs of the earlier rows' mails of this
-- notice to this recipient, oldest first.
-- notice_contacts: addresses a customer adds to receive its notices besides
-- its operations administrators.
-- notice_feed_tokens: per-customer tokens for the Atom feed, stored as a
-- SHA-256 hash, shown once.

-- +goose Up
CREATE TABLE notices (
    id                  TEXT PRIMARY KEY,
    kind                TEXT NOT NULL,
    category            TEXT NOT NULL,
    severity            TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    title_ja            TEXT NOT NULL,
    title_en            TEXT NOT NULL,
    body_ja             TEXT NOT NULL,
    body_en             TEXT NOT NULL,
    starts_at           TEXT,
    ends_at             TEXT,
    scope               TEXT NOT NULL,
    affects_forwarding  BOOLEAN NOT NULL DEFAULT FALSE,
    security            BOOLEAN NOT NULL DEFAULT FALSE,
    data_affected       TEXT NOT NULL DEFAULT '',
    source              TEXT NOT NULL DEFAULT 'operator',
    auto_key            TEXT UNIQUE,
    approved_by         TEXT,
    approval_reason     TEXT NOT NULL DEFAULT '',
    approved_at         TEXT,
    created_by          TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    published_at        TEXT,
    updated_at          TEXT NOT NULL,
    revision            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notices_status ON notices (kind, status, updated_at);

CREATE TABLE notice_updates (
    notice_id  TEXT NOT NULL REFERENCES notices (id),
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    title_ja   TEXT NOT NULL,
    title_en   TEXT NOT NULL,
    body_ja    TEXT NOT NULL,
    body_en    TEXT NOT NULL,
    at         TEXT NOT NULL,
    by_account TEXT NOT NULL,
    PRIMARY KEY (notice_id, seq)
);

CREATE TABLE notice_customers (
    notice_id    TEXT NOT NULL REFERENCES notices (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    since_seq    BIGINT NOT NULL,
    reasons      TEXT NOT NULL,
    PRIMARY KEY (notice_id, customer_id)
);
CREATE INDEX notice_customers_customer ON notice_customers (customer_id, notice_id);

CREATE TABLE notice_deliveries (
    id           TEXT PRIMARY KEY,
    notice_id    TEXT NOT NULL REFERENCES notices (id),
    seq          BIGINT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    recipient    TEXT NOT NULL,
    language     TEXT NOT NULL,
    mail_id      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (notice_id, seq, customer_id, recipient)
);
CREATE INDEX notice_deliveries_customer ON notice_deliveries (customer_id, created_at);
CREATE INDEX notice_deliveries_notice ON notice_deliveries (notice_id, seq);

CREATE TABLE notice_contacts (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    email        TEXT NOT NULL,
    name         TEXT NOT NULL,
    language     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    UNIQUE (customer_id, email)
);

CREATE TABLE notice_feed_tokens (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX notice_feed_tokens_customer ON notice_feed_tokens (customer_id);

-- +goose Down
DROP TABLE notice_feed_tokens;
DROP TABLE notice_contacts;
DROP TABLE notice_deliveries;
DROP TABLE notice_customers;
DROP TABLE notice_updates;
DROP TABLE notices;
