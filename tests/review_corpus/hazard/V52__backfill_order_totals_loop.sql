-- expect: unbatched-backfill
-- txn: wrapped
-- "Batched" in a loop, but all batches run in the DO block's one transaction
-- (Flyway wraps the file too): every row stays locked until the end.
DO $$
DECLARE
  batch_start bigint := 0;
  max_id bigint;
BEGIN
  SELECT max(id) INTO max_id FROM orders;
  WHILE batch_start <= max_id LOOP
    UPDATE orders
       SET total_cents = subtotal_cents + shipping_cents
     WHERE id > batch_start AND id <= batch_start + 5000;
    batch_start := batch_start + 5000;
    PERFORM pg_sleep(0.05);
  END LOOP;
END
$$;
