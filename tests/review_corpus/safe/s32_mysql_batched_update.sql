-- expect: none
-- engine: mysql
UPDATE users SET tier = 'free' WHERE id BETWEEN 1 AND 10000 AND tier IS NULL;
UPDATE users SET tier = 'free' WHERE id BETWEEN 10001 AND 20000 AND tier IS NULL;
