-- expect: none
-- The view gains a column: drop and recreate it in one transaction.
BEGIN;
SET LOCAL lock_timeout = '2s';
DROP VIEW active_customers;
CREATE VIEW active_customers AS
  SELECT id, email, last_order_at FROM customers WHERE deleted_at IS NULL;
COMMIT;
