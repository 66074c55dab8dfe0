-- expect: concurrent-index-in-transaction, missing-lock-timeout
BEGIN;
ALTER TABLE posts ADD COLUMN tags text[];
CREATE INDEX CONCURRENTLY idx_posts_tags ON posts USING gin (tags);
COMMIT;
