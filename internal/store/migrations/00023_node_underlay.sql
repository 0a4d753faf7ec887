-- The hub service model (internal/network), continued: each hub node's
-- underlay address on the backbone, the VXLAN tunnel endpoint that the other
-- nodes' hubs of the same customer reach it at. Operator data. Portable SQL.

-- +goose Up
CREATE TABLE node_underlay (
    node_id     TEXT PRIMARY KEY REFERENCES hub_nodes (id),
    address     TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE node_underlay;
