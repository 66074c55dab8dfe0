-- expect: attach-partition-scans
-- pg: 11
SET lock_timeout = '2s';
CREATE TABLE metrics_2024_01 (id bigint NOT NULL, recorded_at timestamptz NOT NULL, value double precision);
INSERT INTO metrics_2024_01 SELECT id, recorded_at, value FROM metrics_staging WHERE recorded_at >= '2024-01-01' AND recorded_at < '2024-02-01';
ALTER TABLE metrics ATTACH PARTITION metrics_2024_01 FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
