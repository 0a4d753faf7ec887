-- Who invited each account (identity/account.go): the inviting account, or
-- NULL for the first operator (its first-start link), accounts seeded by
-- tooling, and accounts invited before this column existed. A security
-- officer invited by an operator may not approve that operator's recovery
-- requests (identity/recovery.go), and an operations administrator that
-- operator staff invited is not activated beside another active one.
-- Portable SQL only.

-- +goose Up
ALTER TABLE accounts ADD COLUMN invited_by TEXT;

-- +goose Down
ALTER TABLE accounts DROP COLUMN invited_by;
