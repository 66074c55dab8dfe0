-- expect: none
-- pg: 11
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN login_count integer NOT NULL DEFAULT 0;
