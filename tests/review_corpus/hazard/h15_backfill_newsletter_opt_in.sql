-- expect: unbatched-backfill
UPDATE users SET newsletter_opt_in = false WHERE newsletter_opt_in IS NULL;
