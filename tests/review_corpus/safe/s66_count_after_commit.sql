-- expect: none
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN gift_note text;
COMMIT;
-- The check runs after the lock is gone.
SELECT count(*) FROM orders WHERE gift_note IS NOT NULL;
