-- expect: column-type-change-rewrite
-- bio was text; cap it at 500 characters.
SET lock_timeout = '2s';
ALTER TABLE profiles ALTER COLUMN bio TYPE varchar(500);
