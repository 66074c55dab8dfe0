SET lock_timeout = '2s';
DO $$
DECLARE
  part text;
BEGIN
  FOR part IN SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass LOOP
    EXECUTE format('ALTER TABLE %s ADD COLUMN source text', part);
  END LOOP;
END
$$;
