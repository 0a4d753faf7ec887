-- Flow records (internal/flows, ISO/IEC 27017 12.4.1, 18.1.3): the
-- connections that ended in each customer's hubs, from the nodes'
-- connection tracking (contract internal/network/flowrec). Portable SQL
-- only; every row is one customer's, read only by that customer.
--
-- flow_records: one row per ended connection. id is a digest of the
-- record's identity (hub, protocol, original tuple, start, end), so that a
-- batch an agent sends again after a lost answer is stored once (ON
-- CONFLICT DO NOTHING). Addresses are netip's canonical text, so an
-- address query is an equality. translated: none | source | destination |
-- both (which side the hub rewrote; flowrec.Translation). Counters are
-- clamped to BIGINT. Read newest first by (customer_id, end_at, id); the
-- retention job removes by end_at.
--
-- flow_hours: per customer and clock hour (UTC, clock.StoreLayout,
-- truncated to the hour) what was stored (stored, counted against the
-- hourly cap --flow-records-per-hour), refused over the cap (capped), and
-- lost on the nodes (node_dropped: full agent buffer, kernel ENOBUFS). The
-- customer's page and API show the sums; the operator's metrics read them.

-- +goose Up
CREATE TABLE flow_records (
    customer_id    TEXT NOT NULL,
    id             TEXT NOT NULL,
    hub_id         TEXT NOT NULL,
    node_id        TEXT NOT NULL,
    start_at       TEXT NOT NULL,
    end_at         TEXT NOT NULL,
    protocol       INTEGER NOT NULL,
    orig_src       TEXT NOT NULL,
    orig_dst       TEXT NOT NULL,
    orig_sport     INTEGER NOT NULL,
    orig_dport     INTEGER NOT NULL,
    reply_src      TEXT NOT NULL,
    reply_dst      TEXT NOT NULL,
    reply_sport    INTEGER NOT NULL,
    reply_dport    INTEGER NOT NULL,
    translated     TEXT NOT NULL,
    orig_bytes     BIGINT NOT NULL,
    orig_packets   BIGINT NOT NULL,
    reply_bytes    BIGINT NOT NULL,
    reply_packets  BIGINT NOT NULL,
    PRIMARY KEY (customer_id, id)
);
CREATE INDEX flow_records_end ON flow_records (customer_id, end_at, id);
CREATE INDEX flow_records_expire ON flow_records (end_at);

CREATE TABLE flow_hours (
    customer_id   TEXT NOT NULL,
    hour          TEXT NOT NULL,
    stored        BIGINT NOT NULL DEFAULT 0,
    capped        BIGINT NOT NULL DEFAULT 0,
    node_dropped  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, hour)
);
CREATE INDEX flow_hours_hour ON flow_hours (hour);

-- +goose Down
DROP TABLE flow_hours;
DROP TABLE flow_records;
