-- expect: mysql-copy-algorithm-ddl
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE orders ADD CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
