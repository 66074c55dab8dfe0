-- expect: none
-- pg: 17
SET SESSION lock_timeout = '3s';
ALTER TABLE devices ADD COLUMN push_token text;
