-- expect: concurrent-index-in-transaction
-- migrate:up
CREATE INDEX CONCURRENTLY idx_events_created_at ON events (created_at);

-- migrate:down
DROP INDEX CONCURRENTLY idx_events_created_at;
