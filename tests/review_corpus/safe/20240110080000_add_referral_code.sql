-- expect: none
-- migrate:up
SET LOCAL lock_timeout = '1s';
ALTER TABLE users ADD COLUMN referral_code varchar(32);

-- migrate:down
ALTER TABLE users DROP COLUMN referral_code;
