-- Customer reports (internal/notice): the last report number handed out,
-- one row. A report's number (R-000123) is never given twice, also after
-- the purge erased the report that held it: the purge deletes reports but
-- never this row, which holds no customer data. Filing a report increments
-- it in the filing's transaction (an UPDATE: the row lock orders two
-- controllers filing at once). Portable SQL only.

-- +goose Up
CREATE TABLE report_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    last  BIGINT NOT NULL
);
INSERT INTO report_counter (id, last) SELECT 1, COALESCE(MAX(number), 0) FROM reports;

-- +goose Down
DROP TABLE report_counter;
