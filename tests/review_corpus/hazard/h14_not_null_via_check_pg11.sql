-- expect: set-not-null-without-check
-- pg: 11
-- The CHECK does not help before PostgreSQL 12: SET NOT NULL still scans.
SET lock_timeout = '2s';
ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
