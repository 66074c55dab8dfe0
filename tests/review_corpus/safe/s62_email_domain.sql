-- expect: none
CREATE DOMAIN email_address AS text CHECK (VALUE ~ '^[^@]+@[^@]+$') NOT NULL;
CREATE TABLE subscribers (id bigint PRIMARY KEY, email email_address);
