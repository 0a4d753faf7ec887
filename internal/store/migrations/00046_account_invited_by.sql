-- Who invited each account (identity/account.go): the inviting account, or
-- NULL for the first operator (its first-start link), accounts seeded by
-- tooling or the demo, and accounts invited before this column existed.
-- A security officer invited by an operator may not decide that operator's
-- recovery requests, and an operations administrator invited by operator
-- staff is not activated beside another active one (identity/recovery.go).
-- Invitations pending at the upgrade have no inviter recorded and are not
-- held to the second rule; their links lapse within 72 hours.
-- Portable SQL only.

-- +goose Up
ALTER TABLE accounts ADD COLUMN invited_by TEXT;

-- +goose Down
ALTER TABLE accounts DROP COLUMN invited_by;
