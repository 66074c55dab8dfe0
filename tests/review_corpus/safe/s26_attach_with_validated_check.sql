-- expect: none
SET lock_timeout = '2s';
ALTER TABLE events_2023 ADD CONSTRAINT events_2023_bounds CHECK (occurred_at IS NOT NULL AND occurred_at >= '2023-01-01' AND occurred_at < '2024-01-01') NOT VALID;
ALTER TABLE events_2023 VALIDATE CONSTRAINT events_2023_bounds;
ALTER TABLE events ATTACH PARTITION events_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
ALTER TABLE events_2023 DROP CONSTRAINT events_2023_bounds;
