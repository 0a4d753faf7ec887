-- One model for a port a hub node holds down (internal/network/hold.go):
-- an on-premises port a layer-2 guard shut, a BGP session the route limit
-- stopped — and, later, whatever else a node holds until the customer
-- re-enables the port. A row exists while the hold lasts, recorded once
-- from the node's level-triggered reports; the customer's re-enable
-- removes every hold of the port and bumps the port's re-enable sequence
-- (port_reenables), which the desired state carries to the node.
-- Replaces port_shutdowns and bgp_sessions; their rows are carried over.
-- Portable SQL only.

-- +goose Up
CREATE TABLE port_holds (
    port_id      TEXT NOT NULL REFERENCES ports (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    kind         TEXT NOT NULL CHECK (kind IN ('l2_guard', 'route_limit')),
    session      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    since        TEXT NOT NULL,
    prefixes     BIGINT,
    route_limit  BIGINT,
    seq          BIGINT NOT NULL,
    node         TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (port_id, kind)
);
CREATE INDEX port_holds_customer ON port_holds (customer_id);

CREATE TABLE port_reenables (
    port_id      TEXT PRIMARY KEY REFERENCES ports (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    seq          BIGINT NOT NULL,
    updated_at   TEXT NOT NULL
);

INSERT INTO port_holds (port_id, customer_id, kind, session, reason, detail, since, prefixes, route_limit, seq, node, recorded_at)
    SELECT s.port_id, s.customer_id, 'l2_guard', '', s.reason, '', s.shut_at, NULL, NULL, COALESCE(b.reenable_seq, 0), '', s.shut_at
    FROM port_shutdowns s LEFT JOIN bgp_sessions b ON b.port_id = s.port_id;
-- A stop recorded before this migration has the count the controller
-- assumed (the limit + 1), not one BIRD reported: it is carried over
-- without a count.
INSERT INTO port_holds (port_id, customer_id, kind, session, reason, detail, since, prefixes, route_limit, seq, node, recorded_at)
    SELECT port_id, customer_id, 'route_limit', '', 'limit', '', COALESCE(tripped_at, updated_at), NULL, NULL, reenable_seq, '',
        COALESCE(tripped_at, updated_at)
    FROM bgp_sessions WHERE state = 'stopped-limit';
INSERT INTO port_reenables (port_id, customer_id, seq, updated_at)
    SELECT port_id, customer_id, reenable_seq, updated_at FROM bgp_sessions WHERE reenable_seq > 0;

DROP TABLE port_shutdowns;
DROP TABLE bgp_sessions;

-- +goose Down
CREATE TABLE bgp_sessions (
    port_id       TEXT PRIMARY KEY REFERENCES ports (id),
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    state         TEXT NOT NULL CHECK (state IN ('enabled', 'stopped-limit')),
    received      BIGINT NOT NULL,
    tripped_at    TEXT,
    reenable_seq  BIGINT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE port_shutdowns (
    port_id      TEXT PRIMARY KEY REFERENCES ports (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    reason       TEXT NOT NULL CHECK (reason IN ('bpdu', 'flap')),
    shut_at      TEXT NOT NULL
);
INSERT INTO bgp_sessions (port_id, customer_id, state, received, tripped_at, reenable_seq, updated_at)
    SELECT r.port_id, r.customer_id, CASE WHEN h.port_id IS NULL THEN 'enabled' ELSE 'stopped-limit' END,
        COALESCE(h.prefixes, 0), h.since, r.seq, r.updated_at
    FROM port_reenables r LEFT JOIN port_holds h ON h.port_id = r.port_id AND h.kind = 'route_limit';
INSERT INTO bgp_sessions (port_id, customer_id, state, received, tripped_at, reenable_seq, updated_at)
    SELECT port_id, customer_id, 'stopped-limit', COALESCE(prefixes, 0), since, seq, recorded_at
    FROM port_holds WHERE kind = 'route_limit' AND port_id NOT IN (SELECT port_id FROM port_reenables);
INSERT INTO port_shutdowns (port_id, customer_id, reason, shut_at)
    SELECT port_id, customer_id, reason, since FROM port_holds WHERE kind = 'l2_guard' AND reason IN ('bpdu', 'flap');
DROP TABLE port_reenables;
DROP TABLE port_holds;
