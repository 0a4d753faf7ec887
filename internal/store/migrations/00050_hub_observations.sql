-- What each hub node last reported of each customer hub it carries
-- (network/observed, one row per hub and node: a redundant port's second
-- leg may put a hub on two nodes). A customer's read touches only its own
-- rows; the node-level row (node_status) keeps what concerns the node
-- itself. body is the hub's part of the report, observed.Hub as JSON.
-- Portable SQL.

-- +goose Up
CREATE TABLE hub_observations (
    hub_id          TEXT NOT NULL REFERENCES hubs (id),
    node_id         TEXT NOT NULL REFERENCES hub_nodes (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    reported_at     TEXT NOT NULL,
    wanted_version  BIGINT NOT NULL,
    config_version  BIGINT NOT NULL,
    error           TEXT NOT NULL,
    problems        INTEGER NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (hub_id, node_id)
);
CREATE INDEX hub_observations_customer ON hub_observations (customer_id, hub_id);
CREATE INDEX hub_observations_node ON hub_observations (node_id);

-- +goose Down
DROP TABLE hub_observations;
