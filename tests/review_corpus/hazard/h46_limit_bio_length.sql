-- expect: column-type-change-rewrite
-- known-miss: column-type-change-rewrite (the old type, text, is only in a comment; a varchar(n) target is usually a widening, so it is a note)
-- bio was text; cap it at 500 characters.
SET lock_timeout = '2s';
ALTER TABLE profiles ALTER COLUMN bio TYPE varchar(500);
