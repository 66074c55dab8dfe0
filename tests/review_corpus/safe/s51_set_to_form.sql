-- expect: none
SET statement_timeout TO '15min';
SET lock_timeout TO '1s';
ALTER TABLE shipments ADD COLUMN delivered_at timestamptz;
ALTER TABLE shipments ADD COLUMN signed_by text;
