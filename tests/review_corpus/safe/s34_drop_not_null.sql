-- expect: none
SET lock_timeout = '2s';
ALTER TABLE users ALTER COLUMN phone DROP NOT NULL;
