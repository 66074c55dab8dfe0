-- expect: add-check-validating
SET lock_timeout = '2s';
ALTER TABLE orders ADD CONSTRAINT orders_total_cents_nonnegative CHECK (total_cents >= 0);
