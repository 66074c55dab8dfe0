-- expect: mysql-missing-lock-wait-timeout
-- engine: mysql
ALTER TABLE users ADD COLUMN last_seen_at DATETIME NULL, ALGORITHM=INSTANT;
