-- Automatic draft incidents (internal/notice, job notice.watch): when the
-- job first saw each condition that must last before a draft opens (a hub
-- whose node reports it cannot realise its wanted version), keyed like the
-- draft's notices.auto_key ("hub-unrealised:<hub>:<wanted version>"). A
-- row goes when the condition is no longer seen, so that it starts afresh
-- if it comes back. Operator data, no customer's: a hub ID only, removed
-- with the condition. Portable SQL only.

-- +goose Up
CREATE TABLE notice_watch (
    auto_key  TEXT PRIMARY KEY,
    since     TEXT NOT NULL
);

-- +goose Down
DROP TABLE notice_watch;
