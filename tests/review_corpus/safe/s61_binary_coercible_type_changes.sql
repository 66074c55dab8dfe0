-- expect: none
-- Widen types that keep every stored value: no rewrite.
SET lock_timeout = '2s';
ALTER TABLE hosts ALTER COLUMN allowed TYPE inet;
ALTER TABLE audit_log ADD COLUMN payload_xml xml;
ALTER TABLE audit_log ALTER COLUMN payload_xml TYPE text;
ALTER TABLE shifts ADD COLUMN starts_at time(0);
ALTER TABLE shifts ALTER COLUMN starts_at TYPE time(3);
ALTER TABLE shifts ADD COLUMN planned interval(0);
ALTER TABLE shifts ALTER COLUMN planned TYPE interval;
