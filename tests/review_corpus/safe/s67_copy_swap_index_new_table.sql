-- expect: none
-- Build the replacement table, index it after the rename: it is still new.
SET lock_timeout = '2s';
CREATE TABLE report_cache_next (id bigint, payload jsonb, built_at timestamptz);
INSERT INTO report_cache_next SELECT id, payload, now() FROM report_sources;
ALTER TABLE report_cache_next RENAME TO report_cache_v2;
CREATE INDEX report_cache_v2_built_at_idx ON report_cache_v2 (built_at);
