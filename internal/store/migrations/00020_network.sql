-- The hub service model (internal/network). Portable SQL only; the trigger
-- that keeps configuration versions immutable is a Go migration (version 21,
-- dialect_network.go).

-- +goose Up

-- The customer's saved data: one immutable row per applied configuration
-- version (1, 2, 3, … per customer). config is the whole configuration as
-- canonical JSON; review is the review it was applied with (14.2.1).
CREATE TABLE net_versions (
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    version       BIGINT NOT NULL CHECK (version > 0),
    base_version  BIGINT NOT NULL,
    rollback_of   BIGINT,
    config        TEXT NOT NULL,
    review        TEXT NOT NULL,
    applied_at    TEXT NOT NULL,
    applied_by    TEXT NOT NULL,
    PRIMARY KEY (customer_id, version)
);

-- At most one draft per customer, on top of base_version.
CREATE TABLE net_drafts (
    customer_id   TEXT PRIMARY KEY REFERENCES customers (id),
    base_version  BIGINT NOT NULL,
    rollback_of   BIGINT,
    config        TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT NOT NULL
);

-- The per-customer edit lock: who holds it, since when, last activity.
CREATE TABLE net_locks (
    customer_id   TEXT PRIMARY KEY REFERENCES customers (id),
    account_id    TEXT NOT NULL,
    holder        TEXT NOT NULL,
    since         TEXT NOT NULL,
    last_active   TEXT NOT NULL
);

-- Operator data from here on (8.1.1): where customer hubs and ports run.
CREATE TABLE hub_placements (
    hub_id        TEXT PRIMARY KEY REFERENCES hubs (id),
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    node_id       TEXT NOT NULL REFERENCES hub_nodes (id),
    created_at    TEXT NOT NULL
);
CREATE INDEX hub_placements_node ON hub_placements (node_id);

CREATE TABLE port_placements (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers (id),
    port_id           TEXT NOT NULL REFERENCES ports (id),
    leg               TEXT NOT NULL CHECK (leg IN ('primary', 'secondary')),
    physical_port_id  TEXT NOT NULL REFERENCES physical_ports (id),
    proposed          BOOLEAN NOT NULL,
    reason            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (port_id, leg)
);
CREATE INDEX port_placements_physical ON port_placements (physical_port_id);

-- Speed item changes on the contract, with effective dates; kept as history.
CREATE TABLE bandwidth_changes (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    port_id         TEXT NOT NULL REFERENCES ports (id),
    from_mbps       BIGINT NOT NULL,
    to_mbps         BIGINT NOT NULL CHECK (to_mbps > 0),
    effective_date  TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'cancelled')),
    requested_at    TEXT NOT NULL,
    requested_by    TEXT NOT NULL
);
CREATE INDEX bandwidth_changes_port ON bandwidth_changes (port_id, effective_date);

-- Public IPv4 pools the operator provides for NAPT and static NAT.
CREATE TABLE nat_pools (
    id          TEXT PRIMARY KEY,
    region_id   TEXT NOT NULL REFERENCES regions (id),
    prefix      TEXT NOT NULL UNIQUE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('napt', 'static')),
    created_at  TEXT NOT NULL
);

-- A public prefix taken from a pool. NAPT: one per grade (port_code, slot).
-- Static NAT: one /32 per bought address, kept by the customer; inside is
-- the current inside address (NULL when unused) and last_inside the previous
-- one, so that re-assigning an inside address returns its public address.
CREATE TABLE nat_allocations (
    id           TEXT PRIMARY KEY,
    pool_id      TEXT NOT NULL REFERENCES nat_pools (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    purpose      TEXT NOT NULL CHECK (purpose IN ('napt', 'static')),
    prefix       TEXT NOT NULL UNIQUE,
    port_code    TEXT,
    slot         BIGINT,
    inside       TEXT,
    last_inside  TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX nat_allocations_customer ON nat_allocations (customer_id, purpose);

-- BGP session state per port as the agent reports it; the route limit trip
-- stops the session until the customer re-enables it (reenable_seq).
CREATE TABLE bgp_sessions (
    port_id       TEXT PRIMARY KEY REFERENCES ports (id),
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    state         TEXT NOT NULL CHECK (state IN ('enabled', 'stopped-limit')),
    received      BIGINT NOT NULL,
    tripped_at    TEXT,
    reenable_seq  BIGINT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- +goose Down
DROP TABLE bgp_sessions;
DROP TABLE nat_allocations;
DROP TABLE nat_pools;
DROP TABLE bandwidth_changes;
DROP TABLE port_placements;
DROP TABLE hub_placements;
DROP TABLE net_locks;
DROP TABLE net_drafts;
DROP TABLE net_versions;
