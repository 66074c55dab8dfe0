-- expect: mysql-add-index-locking
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
CREATE INDEX idx_orders_status ON orders (status) LOCK=SHARED;
