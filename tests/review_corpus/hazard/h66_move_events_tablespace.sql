-- expect: set-tablespace-or-access-method
SET lock_timeout = '2s';
ALTER TABLE events SET TABLESPACE fast_ssd;
