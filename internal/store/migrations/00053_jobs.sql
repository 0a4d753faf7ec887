-- The controller's scheduled jobs (internal/schedule) and their done markers.
--
-- job_leases: one row per job. A controller runs a job only while it holds
-- the job's lease (holder, until), taken with one conditional UPDATE, so that
-- several controllers on one PostgreSQL do not run the same job at once;
-- next_run_at is when the job is next due (a failed run sets it a retry
-- interval ahead, a successful one to the job's next due time).
-- job_runs: every run, with its start, end, outcome, counts and failure.
-- A lease only keeps runs from overlapping; what makes each due item happen
-- exactly once is the item's own done marker, set in the same transaction as
-- its effect (bandwidth_changes.applied_at below).
-- net_drafts.speed_changes: the customer's requested speed changes in a
-- draft (JSON list), recorded as bandwidth changes when the draft is applied.
-- Portable SQL only.

-- +goose Up
CREATE TABLE job_leases (
    job          TEXT PRIMARY KEY,
    holder       TEXT NOT NULL DEFAULT '',
    lease_until  TEXT NOT NULL DEFAULT '',
    next_run_at  TEXT NOT NULL
);

CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    controller   TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
    due          BIGINT NOT NULL DEFAULT 0,
    done         BIGINT NOT NULL DEFAULT 0,
    skipped      BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_runs_started ON job_runs (started_at, id);

ALTER TABLE bandwidth_changes ADD COLUMN applied_at TEXT;
ALTER TABLE net_drafts ADD COLUMN speed_changes TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE net_drafts DROP COLUMN speed_changes;
ALTER TABLE bandwidth_changes DROP COLUMN applied_at;
DROP TABLE job_runs;
DROP TABLE job_leases;
