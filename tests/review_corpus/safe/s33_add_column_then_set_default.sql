-- expect: none
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN tracking_token uuid;
ALTER TABLE orders ALTER COLUMN tracking_token SET DEFAULT gen_random_uuid();
