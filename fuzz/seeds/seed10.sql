DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 's') THEN
    CREATE TYPE s AS ENUM ('a', 'b; c');
  END IF;
END
$$;
