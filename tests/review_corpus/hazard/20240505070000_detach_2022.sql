-- expect: detach-partition-non-concurrent
-- pg: 16
-- migrate:up
SET LOCAL lock_timeout = '2s';
ALTER TABLE page_views DETACH PARTITION page_views_2022;

-- migrate:down
ALTER TABLE page_views ATTACH PARTITION page_views_2022 FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
