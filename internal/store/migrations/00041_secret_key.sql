-- The controller's secret key seals values at rest (TOTP seeds, BGP
-- passwords, the node CA's private key, mail bodies). Every controller on one
-- database must hold the same key; this row lets a controller tell at start
-- whether its key is the database's: a fixed label sealed under the key opens
-- only with that key. Portable SQL only.

-- +goose Up
CREATE TABLE secret_key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    sealed      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- +goose Down
DROP TABLE secret_key_check;
