-- expect: none
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users ADD COLUMN last_seen_at DATETIME NULL, ALGORITHM=INSTANT;
ALTER TABLE users ADD INDEX idx_users_last_seen_at (last_seen_at), ALGORITHM=INPLACE, LOCK=NONE;
ALTER TABLE users RENAME COLUMN nick TO nickname;
ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'free';
