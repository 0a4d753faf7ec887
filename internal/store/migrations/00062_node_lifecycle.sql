-- Hub nodes' lifecycle (internal/fleet, internal/network): a node is active,
-- draining (no new placement goes there; what runs stays until moved) or
-- retired (nothing placed, its certificates revoked, its physical ports
-- released, its agent refused). decommissioned_at and decommission_report
-- record the wipe its agent reported (`tsunagi agent decommission`, ISO/IEC
-- 27017 11.2.7); a decommissioned node is refused like a retired one.
-- physical_ports.released_at: a released physical port takes no placement
-- and leaves the capacity report. Operator data. Portable SQL.

-- +goose Up
ALTER TABLE hub_nodes ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
ALTER TABLE hub_nodes ADD COLUMN state_changed_at TEXT;
ALTER TABLE hub_nodes ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE hub_nodes ADD COLUMN decommissioned_at TEXT;
ALTER TABLE hub_nodes ADD COLUMN decommission_report TEXT;
ALTER TABLE physical_ports ADD COLUMN released_at TEXT;

-- +goose Down
ALTER TABLE physical_ports DROP COLUMN released_at;
ALTER TABLE hub_nodes DROP COLUMN decommission_report;
ALTER TABLE hub_nodes DROP COLUMN decommissioned_at;
ALTER TABLE hub_nodes DROP COLUMN state_reason;
ALTER TABLE hub_nodes DROP COLUMN state_changed_at;
ALTER TABLE hub_nodes DROP COLUMN state;
