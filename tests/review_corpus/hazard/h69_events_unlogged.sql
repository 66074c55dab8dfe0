-- expect: set-logged-or-unlogged
-- The events table is rebuilt nightly anyway; skip the WAL.
SET lock_timeout = '2s';
ALTER TABLE page_events SET UNLOGGED;
