-- Customer reports (internal/notice, ISO/IEC 27017 16.1.2): events a
-- customer reports to the operator, the threaded messages of both sides,
-- and the attachments (at most 5 MiB each, type checked by content; the
-- content sealed at rest with the controller's secret key, base64 inside
-- the seal). status: open | in-progress | waiting-customer | resolved |
-- closed. number is the customer-visible reference (R-000123), unique
-- platform-wide. Portable SQL only.

-- +goose Up
CREATE TABLE reports (
    id           TEXT PRIMARY KEY,
    number       BIGINT NOT NULL UNIQUE,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    category     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX reports_customer ON reports (customer_id, updated_at);
CREATE INDEX reports_status ON reports (status, updated_at);

CREATE TABLE report_messages (
    report_id    TEXT NOT NULL REFERENCES reports (id),
    seq          BIGINT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    author_side  TEXT NOT NULL,
    author_id    TEXT NOT NULL,
    author_name  TEXT NOT NULL,
    body         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (report_id, seq)
);

CREATE TABLE report_attachments (
    id            TEXT PRIMARY KEY,
    report_id     TEXT NOT NULL REFERENCES reports (id),
    seq           BIGINT NOT NULL,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    content       TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX report_attachments_report ON report_attachments (report_id, seq);

-- +goose Down
DROP TABLE report_attachments;
DROP TABLE report_messages;
DROP TABLE reports;
