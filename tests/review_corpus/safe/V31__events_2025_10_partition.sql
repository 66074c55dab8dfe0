-- expect: none
SET lock_timeout = '1s';
CREATE TABLE events_2025_10 PARTITION OF events FOR VALUES FROM ('2025-10-01') TO ('2025-11-01');
CREATE INDEX events_2025_10_user_id_idx ON events_2025_10 (user_id);
