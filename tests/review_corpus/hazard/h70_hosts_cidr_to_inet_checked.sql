-- expect: add-check-validating, column-type-change-recheck
-- Hosts may hold single addresses now, not only networks.
SET lock_timeout = '2s';
ALTER TABLE hosts ADD COLUMN allowed cidr CHECK (masklen(allowed) >= 8);
ALTER TABLE hosts ALTER COLUMN allowed TYPE inet;
