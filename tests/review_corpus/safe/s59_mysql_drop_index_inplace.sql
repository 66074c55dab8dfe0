-- expect: none
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE orders DROP INDEX idx_orders_legacy_ref, ALGORITHM=INPLACE, LOCK=NONE;
ALTER TABLE orders RENAME COLUMN ref TO reference, ALGORITHM=INSTANT;
