-- expect: none
SET lock_timeout = '2s';
ALTER TABLE posts ALTER COLUMN title TYPE text;
