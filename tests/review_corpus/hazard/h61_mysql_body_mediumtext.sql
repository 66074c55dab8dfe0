-- expect: mysql-copy-algorithm-ddl
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE posts CHANGE body body MEDIUMTEXT NOT NULL;
