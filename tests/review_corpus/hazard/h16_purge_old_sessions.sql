-- expect: unbatched-backfill
DELETE FROM sessions WHERE updated_at < now() - interval '30 days';
