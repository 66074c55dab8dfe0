-- expect: unbatched-backfill
-- engine: mysql
UPDATE users SET tier = 'free' WHERE tier IS NULL;
