ALTER TABLE users ADD COLUMN bio text, ADD COLUMN avatar_url text;
UPDATE users SET bio = p.bio, avatar_url = p.avatar_url FROM user_profiles p WHERE p.user_id = users.id;
DROP TABLE user_profiles;