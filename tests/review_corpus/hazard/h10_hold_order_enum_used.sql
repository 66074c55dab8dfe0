-- expect: enum-add-value-in-transaction
BEGIN;
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'on_hold' AFTER 'pending';
-- Put the disputed order on hold right away.
UPDATE orders SET status = 'on_hold' WHERE id = 4817;
COMMIT;
