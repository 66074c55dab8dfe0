-- expect: add-unique-constraint-builds-index
SET lock_timeout = '2s';
ALTER TABLE users ADD CONSTRAINT users_username_key UNIQUE (username);
