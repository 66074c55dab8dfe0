-- expect: none
SET TimeZone = 'UTC';
SET lock_timeout = '2s';
ALTER TABLE events ALTER COLUMN occurred_at TYPE timestamptz;
