ALTER TABLE user_settings ADD COLUMN preferences jsonb;
UPDATE user_settings SET preferences = u.preferences FROM users u WHERE user_settings.user_id = u.id;
ALTER TABLE users DROP COLUMN preferences;