-- One random 32-byte key per customer (audit/seal.go), made at the first
-- audit event that carries personal data of that customer, stored sealed
-- under the controller's secret key (db.Secrets(), context
-- "audit_key:<customer_id>"). The personal fields of that customer's events
-- are sealed under it; the purge deletes the row (audit.ForgetCustomerTx),
-- and from then on those fields open nowhere, while the hash chain, which
-- covers only the stored (sealed) form, still verifies. Portable SQL only.

-- +goose Up
CREATE TABLE audit_keys (
    customer_id TEXT PRIMARY KEY,
    sealed_key  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE audit_keys;
