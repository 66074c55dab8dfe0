-- expect: missing-lock-timeout
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN gift_note text;
RESET lock_timeout;
ALTER TABLE orders DROP CONSTRAINT orders_legacy_check;
