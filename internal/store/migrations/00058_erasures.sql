-- The erasure of a terminated customer (internal/lifecycle, ISO/IEC 27017
-- CLD.8.1.5). erasures is the erasure list: one row per customer whose purge
-- has started, finished_at set when it completed, with the signed deletion
-- certificate; a restore from backup re-applies it. erasure_steps records
-- each class of rows erased, in the transaction that erased it, so that a
-- purge interrupted by a crash resumes at the first unfinished class and
-- the certificate counts every row however many attempts it took. Both are
-- kept records: they name what went, never what it held. Portable SQL only.

-- +goose Up
CREATE TABLE erasures (
    customer_id    TEXT PRIMARY KEY,
    terminated_on  TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    certificate    TEXT
);

CREATE TABLE erasure_steps (
    customer_id  TEXT NOT NULL REFERENCES erasures (customer_id),
    class        TEXT NOT NULL,
    count        BIGINT NOT NULL,
    done_at      TEXT NOT NULL,
    PRIMARY KEY (customer_id, class)
);

-- +goose Down
DROP TABLE erasure_steps;
DROP TABLE erasures;
