-- expect: column-type-change-rewrite
-- A guarded retype, as hand-written migrations in many Go and Node projects
-- do it: the ALTER inside the DO block rewrites users.
SET lock_timeout = '2s';
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_name = 'users' AND column_name = 'preferences' AND data_type = 'text'
  ) THEN
    ALTER TABLE users ALTER COLUMN preferences TYPE jsonb USING preferences::jsonb;
  END IF;
END
$$;
