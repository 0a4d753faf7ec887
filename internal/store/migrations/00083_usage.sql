-- Usage records (internal/usage, issue #15): the traffic of each customer
-- port, from the cumulative interface counters the nodes report.
--
-- usage_counters holds, per port link as one node sees it (connection and
-- physical leg), the last counters taken, the interface index they count
-- on and when they were observed: the next report's counters minus these
-- are the traffic since. A report not newer than observed_at adds nothing,
-- so a report sent again (or taken by two controllers) counts once.
--
-- usage_bins holds the traffic in 5-minute bins aligned on UTC (bin_start,
-- a stored instant), per port and placement leg (port_placements.leg: a
-- redundant port's physical leg or a primary/secondary connection; '' for
-- a single connection): bytes, packets and drops in (received on the hub's port
-- interface, i.e. sent by the customer's side) and out, and the highest
-- rate in bit/s of one report interval inside the bin. Both tables are
-- the customer's records: read only by the customer, erased by the purge,
-- cut by the usage retention. Portable SQL only.

-- +goose Up
CREATE TABLE usage_counters (
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    port_id      TEXT NOT NULL REFERENCES ports (id),
    node         TEXT NOT NULL,
    connection   TEXT NOT NULL,
    leg          TEXT NOT NULL,
    ifindex      BIGINT NOT NULL,
    observed_at  TEXT NOT NULL,
    rx_bytes     BIGINT NOT NULL,
    rx_packets   BIGINT NOT NULL,
    rx_drops     BIGINT NOT NULL,
    tx_bytes     BIGINT NOT NULL,
    tx_packets   BIGINT NOT NULL,
    tx_drops     BIGINT NOT NULL,
    PRIMARY KEY (port_id, node, connection, leg)
);
CREATE INDEX usage_counters_customer ON usage_counters (customer_id);
CREATE INDEX usage_counters_node ON usage_counters (node);
CREATE INDEX usage_counters_observed ON usage_counters (observed_at);

CREATE TABLE usage_bins (
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    port_id       TEXT NOT NULL REFERENCES ports (id),
    leg           TEXT NOT NULL,
    bin_start     TEXT NOT NULL,
    in_bytes      BIGINT NOT NULL,
    in_packets    BIGINT NOT NULL,
    in_drops      BIGINT NOT NULL,
    out_bytes     BIGINT NOT NULL,
    out_packets   BIGINT NOT NULL,
    out_drops     BIGINT NOT NULL,
    peak_in_bps   BIGINT NOT NULL,
    peak_out_bps  BIGINT NOT NULL,
    PRIMARY KEY (port_id, leg, bin_start)
);
CREATE INDEX usage_bins_customer ON usage_bins (customer_id, bin_start);
CREATE INDEX usage_bins_start ON usage_bins (bin_start);

-- +goose Down
DROP TABLE usage_bins;
DROP TABLE usage_counters;
