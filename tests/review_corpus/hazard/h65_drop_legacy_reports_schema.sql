-- expect: drop-schema-cascade
-- Reporting moved to the warehouse; clean up the old schema.
SET lock_timeout = '2s';
DROP SCHEMA IF EXISTS legacy_reports CASCADE;
