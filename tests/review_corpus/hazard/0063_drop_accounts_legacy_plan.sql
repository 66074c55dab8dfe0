-- expect: drop-column
-- An idempotent drop: the DROP COLUMN is inside the DO block.
SET lock_timeout = '2s';
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_name = 'accounts' AND column_name = 'legacy_plan'
  ) THEN
    EXECUTE 'ALTER TABLE accounts DROP COLUMN legacy_plan';
  END IF;
END
$$;
