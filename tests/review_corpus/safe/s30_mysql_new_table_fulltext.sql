-- expect: none
-- engine: mysql
CREATE TABLE help_articles (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
ALTER TABLE help_articles ADD FULLTEXT INDEX ft_help_articles (title, body);
INSERT INTO help_articles (title, body) VALUES ('Getting started', 'Welcome!');
