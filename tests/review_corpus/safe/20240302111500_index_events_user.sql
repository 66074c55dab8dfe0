-- expect: none
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY idx_events_user_id ON events (user_id);

-- migrate:down
DROP INDEX CONCURRENTLY idx_events_user_id;
