-- expect: none
CREATE UNIQUE INDEX CONCURRENTLY users_username_key ON users (username);
SET lock_timeout = '2s';
ALTER TABLE users ADD CONSTRAINT users_username_key UNIQUE USING INDEX users_username_key;
