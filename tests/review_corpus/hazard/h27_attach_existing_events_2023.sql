-- expect: attach-partition-scans
-- events_2023 was the live table until now; make it a partition of events.
SET lock_timeout = '2s';
ALTER TABLE events ATTACH PARTITION events_2023 FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
