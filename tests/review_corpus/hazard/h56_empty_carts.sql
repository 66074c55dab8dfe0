-- expect: unbatched-backfill
-- Carts are rebuilt from the new pricing engine.
DELETE FROM cart_items;
