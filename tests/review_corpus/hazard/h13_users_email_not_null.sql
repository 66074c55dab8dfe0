-- expect: set-not-null-without-check
SET lock_timeout = '2s';
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
