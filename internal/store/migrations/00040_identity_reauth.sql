-- Identity: re-authentication before credential changes, tokens bound to
-- the device of the session that created them, and login throttling counted
-- per listener. Portable SQL.

-- +goose Up

-- When the session last proved the password and, for an account that has
-- one, the second factor (at login or POST /api/v1/session/reauth). A
-- credential change needs it within the last 5 minutes.
ALTER TABLE sessions ADD COLUMN auth_at TEXT;

-- The registered device of the session that created the token, if any:
-- while the customer requires devices, a token works only if its device is
-- still registered.
ALTER TABLE api_tokens ADD COLUMN device_id TEXT;

-- The listener a failed login arrived on ('customer' or 'management'): the
-- per-address limit counts each listener apart, so that failures on one do
-- not lock out the other.
ALTER TABLE login_failures ADD COLUMN side TEXT NOT NULL DEFAULT 'customer';
CREATE INDEX login_failures_side_ip ON login_failures (side, source_ip, at);

-- +goose Down
DROP INDEX login_failures_side_ip;
ALTER TABLE login_failures DROP COLUMN side;
ALTER TABLE api_tokens DROP COLUMN device_id;
ALTER TABLE sessions DROP COLUMN auth_at;
