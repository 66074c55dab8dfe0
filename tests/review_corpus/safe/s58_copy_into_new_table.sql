-- expect: none
CREATE TABLE user_settings (
    user_id bigint PRIMARY KEY,
    theme text NOT NULL DEFAULT 'light',
    timezone text
);
INSERT INTO user_settings (user_id, timezone) SELECT id, timezone FROM users;
CREATE INDEX user_settings_timezone_idx ON user_settings (timezone);
