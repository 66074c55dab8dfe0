CREATE INDEX idx ON orders (lower(email)) WHERE deleted_at IS NULL;
