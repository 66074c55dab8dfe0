-- expect: mysql-missing-lock-wait-timeout
-- engine: mysql
SET GLOBAL lock_wait_timeout = 5;
ALTER TABLE orders DROP INDEX idx_orders_legacy_ref;
