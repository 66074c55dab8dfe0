-- expect: mysql-copy-algorithm-ddl
-- engine: mysql
SET SESSION lock_wait_timeout = 10;
ALTER TABLE comments CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
