-- expect: none
SET lock_timeout = '2s';
ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);
