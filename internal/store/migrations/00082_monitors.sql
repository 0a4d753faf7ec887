-- Reachability monitors (internal/monitor, ISO/IEC 27017 CLD.12.4.5): the
-- customer's saved monitors with their current state, each state change
-- (monitor_events) and 5-minute RTT/loss bins (monitor_bins), both kept 90
-- days (records.expire). state and hub_id are read by the operator metrics
-- too. Times are clock.Store text, which sorts as time. Portable SQL.

-- +goose Up
CREATE TABLE monitors (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers (id),
    port_id           TEXT NOT NULL REFERENCES ports (id),
    hub_id            TEXT NOT NULL REFERENCES hubs (id),
    name              TEXT NOT NULL,
    target            TEXT NOT NULL,
    probe             TEXT NOT NULL CHECK (probe IN ('icmp', 'tcp')),
    tcp_port          INTEGER NOT NULL,
    interval_seconds  INTEGER NOT NULL,
    fail_after        INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('unknown', 'up', 'down', 'stopped')),
    state_since       TEXT NOT NULL,
    -- fails counts the consecutive failed probes taken; last_probe_at is
    -- the newest probe taken, the key that takes each probe once.
    fails             INTEGER NOT NULL,
    -- probed counts the probes taken since the state was last reset to
    -- unknown (created, resumed, node silent): the first decides nothing.
    probed            INTEGER NOT NULL,
    last_probe_at     TEXT,
    last_error        TEXT NOT NULL,
    stopped_at        TEXT,
    stopped_by        TEXT,
    stop_reason       TEXT NOT NULL,
    -- reminded_at: the one reminder mail of a monitor stopped over 7 days.
    reminded_at       TEXT,
    -- Damping of alert mail: mailed_at is the last mail, mail_due_at the
    -- end of its window when changes inside it wait for a summary.
    mailed_at         TEXT,
    mail_due_at       TEXT,
    created_at        TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX monitors_customer ON monitors (customer_id, created_at);
CREATE INDEX monitors_hub ON monitors (hub_id);

CREATE TABLE monitor_events (
    id           TEXT PRIMARY KEY,
    monitor_id   TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    at           TEXT NOT NULL,
    reason       TEXT NOT NULL,
    -- mailed is false while the change waits for its monitor's summary
    -- mail (a change inside the damping window).
    mailed       BOOLEAN NOT NULL
);
CREATE INDEX monitor_events_monitor ON monitor_events (monitor_id, at);
CREATE INDEX monitor_events_at ON monitor_events (at);

CREATE TABLE monitor_bins (
    monitor_id   TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    bin_start    TEXT NOT NULL,
    sent         BIGINT NOT NULL,
    answered     BIGINT NOT NULL,
    rtt_min_us   BIGINT NOT NULL,
    rtt_sum_us   BIGINT NOT NULL,
    rtt_max_us   BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, bin_start)
);
CREATE INDEX monitor_bins_start ON monitor_bins (bin_start);

-- +goose Down
DROP TABLE monitor_bins;
DROP TABLE monitor_events;
DROP TABLE monitors;
