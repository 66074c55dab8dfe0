-- expect: drop-table
-- Rebuild audit_events without the bloat: copy, swap, index the new table.
SET lock_timeout = '2s';
CREATE TABLE audit_events_new (LIKE audit_events INCLUDING DEFAULTS);
INSERT INTO audit_events_new SELECT * FROM audit_events WHERE created_at > now() - interval '90 days';
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_created_at_idx ON audit_events (created_at);
