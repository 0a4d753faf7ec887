-- Ports and hubs that end (internal/network/ending.go).
--
-- ports.ended_at: when the port ended (status became 'cancelled'): removed
-- by the customer through the workflow, ended by an operator on a date, or
-- by the end of its contract. The row stays as the contract record; its
-- port code stays in issued_codes and is never issued again.
-- hubs.ended_at: when the operator removed the hub (off its node, out of
-- the backbone). The row stays as the contract record.
-- net_drafts.port_removals: the ports the customer marks for removal in a
-- draft (JSON list of port codes), ended when the draft is applied.
-- port_ends: an operator's dated end of a port (contractual): the service
-- continues through end_date and the "port.end" job ends the port on the
-- day after (JST). done_at is the job's done marker, set in the same
-- transaction as the end; cancelled_at withdraws it before then. At most
-- one pending end per port.
-- Portable SQL only.

-- +goose Up
ALTER TABLE ports ADD COLUMN ended_at TEXT;
ALTER TABLE hubs ADD COLUMN ended_at TEXT;
ALTER TABLE net_drafts ADD COLUMN port_removals TEXT NOT NULL DEFAULT '[]';

CREATE TABLE port_ends (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    port_id       TEXT NOT NULL REFERENCES ports (id),
    end_date      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    cancelled_at  TEXT,
    done_at       TEXT
);
CREATE UNIQUE INDEX port_ends_pending ON port_ends (port_id) WHERE cancelled_at IS NULL AND done_at IS NULL;
CREATE INDEX port_ends_customer ON port_ends (customer_id, end_date);

-- +goose Down
DROP TABLE port_ends;
ALTER TABLE net_drafts DROP COLUMN port_removals;
ALTER TABLE hubs DROP COLUMN ended_at;
ALTER TABLE ports DROP COLUMN ended_at;
