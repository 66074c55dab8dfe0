-- expect: column-type-change-rewrite
-- pg: 11
SET lock_timeout = '2s';
ALTER TABLE events ALTER COLUMN occurred_at TYPE timestamptz;
