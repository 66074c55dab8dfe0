-- expect: none
-- engine: mysql
CREATE TABLE countries (
    code CHAR(2) NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO countries (code, name) VALUES ('DE', 'Germany'), ('FR', 'France');
CREATE INDEX idx_countries_name ON countries (name);
