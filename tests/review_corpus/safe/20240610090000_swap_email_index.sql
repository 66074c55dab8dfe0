-- expect: none
-- migrate:up transaction:false
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS index_users_on_lower_email ON users (lower(email));
DROP INDEX CONCURRENTLY IF EXISTS index_users_on_email;

-- migrate:down transaction:false
CREATE INDEX CONCURRENTLY IF NOT EXISTS index_users_on_email ON users (email);
DROP INDEX CONCURRENTLY IF EXISTS index_users_on_lower_email;
