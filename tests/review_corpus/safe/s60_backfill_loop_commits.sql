-- expect: none
-- pg: 14
-- Batches that commit: run in autocommit, each batch its own transaction.
SET lock_timeout = '2s';
DO $$
DECLARE
  done bigint;
BEGIN
  LOOP
    UPDATE orders
       SET total_cents = subtotal_cents + shipping_cents
     WHERE id IN (SELECT id FROM orders WHERE total_cents IS NULL ORDER BY id LIMIT 5000);
    GET DIAGNOSTICS done = ROW_COUNT;
    EXIT WHEN done = 0;
    COMMIT;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
