-- expect: mysql-add-index-locking
-- engine: mysql
SET SESSION lock_wait_timeout = 5;
ALTER TABLE articles ADD FULLTEXT INDEX ft_articles_body (title, body);
