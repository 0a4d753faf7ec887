-- The sealed blob of an audit event's personal fields (audit/seal.go): ''
-- for events with none and for every event appended before this migration,
-- which keep their personal fields in plain text as they were written (the
-- table is append-only and hash-chained: nothing is rewritten). The column
-- default leaves existing rows untouched on both engines (no UPDATE, so the
-- append-only triggers do not fire). Portable SQL only.

-- +goose Up
ALTER TABLE audit_events ADD COLUMN sealed TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_events DROP COLUMN sealed;
