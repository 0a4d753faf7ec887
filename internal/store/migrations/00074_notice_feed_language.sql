-- The language of a notice feed token: its Atom feed is written in it
-- (ja | en), as the customer chose when creating the token. Portable SQL
-- only.

-- +goose Up
ALTER TABLE notice_feed_tokens ADD COLUMN language TEXT NOT NULL DEFAULT 'ja';

-- +goose Down
ALTER TABLE notice_feed_tokens DROP COLUMN language;
