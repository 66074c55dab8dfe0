-- expect: none
-- display_name was varchar(100); widening a varchar does not rewrite.
SET lock_timeout = '2s';
ALTER TABLE users ALTER COLUMN display_name TYPE varchar(255);
