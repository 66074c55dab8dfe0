-- expect: none
CREATE TABLE room_bookings (
  room_id int NOT NULL,
  during tstzrange NOT NULL
);
ALTER TABLE room_bookings ADD CONSTRAINT room_bookings_no_overlap EXCLUDE USING gist (during WITH &&);
ALTER TABLE room_bookings SET UNLOGGED;
