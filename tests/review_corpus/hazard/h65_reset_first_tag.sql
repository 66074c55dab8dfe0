-- expect: unbatched-backfill
-- An array element set on every row: one statement over the whole table.
UPDATE articles SET tags[1] = 'general';
