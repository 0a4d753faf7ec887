-- The hub service model (internal/network), continued: on-premises ports a
-- hub node shut by a layer-2 guard (a BPDU received, repeated link flaps).
-- A row exists while the port is shut; the customer's re-enable removes it.
-- Portable SQL.

-- +goose Up
CREATE TABLE port_shutdowns (
    port_id      TEXT PRIMARY KEY REFERENCES ports (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    reason       TEXT NOT NULL CHECK (reason IN ('bpdu', 'flap')),
    shut_at      TEXT NOT NULL
);

-- +goose Down
DROP TABLE port_shutdowns;
