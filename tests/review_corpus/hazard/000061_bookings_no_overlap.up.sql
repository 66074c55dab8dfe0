-- expect: add-exclusion-constraint
-- golang-migrate: no two bookings of a room may overlap.
SET lock_timeout = '2s';
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE bookings
  ADD CONSTRAINT bookings_no_overlap
  EXCLUDE USING gist (room_id WITH =, tstzrange(starts_at, ends_at) WITH &&);
