-- expect: missing-lock-timeout
-- Next month's partition, created ahead of time.
CREATE TABLE events_2025_09 PARTITION OF events FOR VALUES FROM ('2025-09-01') TO ('2025-10-01');
CREATE INDEX events_2025_09_user_id_idx ON events_2025_09 (user_id);
