-- expect: none
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_lower_email_key ON users (lower(email));
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_pending_idx ON orders (created_at) WHERE status = 'pending';
CREATE INDEX CONCURRENTLY IF NOT EXISTS products_attrs_idx ON products USING gin (attributes jsonb_path_ops);
