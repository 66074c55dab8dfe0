-- expect: unbatched-backfill
-- txn: wrapped
-- Batched by hand, but Flyway runs the whole file in one transaction.
UPDATE users SET display_name = coalesce(full_name, username) WHERE id BETWEEN 1 AND 50000 AND display_name IS NULL;
UPDATE users SET display_name = coalesce(full_name, username) WHERE id BETWEEN 50001 AND 100000 AND display_name IS NULL;
UPDATE users SET display_name = coalesce(full_name, username) WHERE id BETWEEN 100001 AND 150000 AND display_name IS NULL;
