-- expect: unbatched-backfill
UPDATE users SET has_orders = true WHERE id IN (SELECT user_id FROM orders);
