-- The looking glass (internal/lookingglass) and the route quota
-- (internal/network/quota.go).
--
-- lg_queries: a customer's looking-glass request for one BGP session,
-- waiting for the agent of the node that runs the hub. The request and the
-- agent's poll may reach different controllers, so the query lives here:
-- the node's agent takes the unanswered ones of its node, and the answer
-- (the tsunagi.looking-glass/v1 JSON) is written back to the row, where
-- the customer's waiting request reads it. Rows are kept for minutes only:
-- removed by the next query's write and by the nodes' polls. Customer data of the controller (18.1.3): erased
-- with the customer.
--
-- route_quota: when a port session's imported prefixes crossed 90 % of
-- its route limit (warned_at), so that the warning is given once per
-- crossing; the row goes when the count falls below 80 %, re-arming it.
-- Portable SQL only.

-- +goose Up
CREATE TABLE lg_queries (
    id           TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    hub_id       TEXT NOT NULL,
    node         TEXT NOT NULL,
    port_code    TEXT NOT NULL,
    session      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    taken_at     TEXT,
    answered_at  TEXT,
    answer       TEXT
);
CREATE INDEX lg_queries_node ON lg_queries (node, answered_at);
CREATE INDEX lg_queries_customer ON lg_queries (customer_id, created_at);
CREATE INDEX lg_queries_created ON lg_queries (created_at);

CREATE TABLE route_quota (
    port_id      TEXT NOT NULL REFERENCES ports (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    session      TEXT NOT NULL,
    warned_at    TEXT NOT NULL,
    imported     BIGINT NOT NULL,
    route_limit  BIGINT NOT NULL,
    PRIMARY KEY (port_id, session)
);
CREATE INDEX route_quota_customer ON route_quota (customer_id);

-- +goose Down
DROP TABLE route_quota;
DROP TABLE lg_queries;
