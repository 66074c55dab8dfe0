-- expect: truncate-cascade
-- Abandoned carts are worthless after the pricing change: start over.
SET lock_timeout = '2s';
TRUNCATE TABLE carts RESTART IDENTITY CASCADE;
