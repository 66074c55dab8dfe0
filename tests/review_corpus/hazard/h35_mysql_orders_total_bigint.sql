-- expect: mysql-copy-algorithm-ddl
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE orders MODIFY COLUMN total BIGINT NOT NULL;
