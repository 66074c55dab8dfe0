-- expect: none
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE users MODIFY COLUMN email VARCHAR(320) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE;
