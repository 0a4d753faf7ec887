-- Event webhooks (internal/webhook, issue #15): a customer's HTTPS
-- endpoints, the queue of deliveries that webhook.Emit fills inside the
-- transaction of each event's cause, and the configuration version each hub
-- last reached (so that config.applied is emitted once per hub and version,
-- whichever controller takes the report). Portable SQL only.
--
-- secret and old_secret are sealed with the store's secret box; old_secret
-- still signs until old_secret_until (a rotation's overlap), '' when none.
-- A delivery's status is pending, delivered or failed; a sender holds a
-- pending delivery while claimed_until is in the future (its lease).

-- +goose Up
CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    secret           TEXT NOT NULL,
    old_secret       TEXT NOT NULL DEFAULT '',
    old_secret_until TEXT,
    created_at       TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    rotated_at       TEXT
);
CREATE INDEX webhooks_customer ON webhooks (customer_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    event_time      TEXT NOT NULL,
    data            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_latency_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

CREATE TABLE webhook_hub_versions (
    hub_id      TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    version     INTEGER NOT NULL
);

-- +goose Down
DROP TABLE webhook_hub_versions;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
