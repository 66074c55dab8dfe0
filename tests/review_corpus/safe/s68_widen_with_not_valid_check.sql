-- expect: none
-- The CHECK is still NOT VALID, so the type change re-checks nothing.
SET lock_timeout = '2s';
ALTER TABLE products ADD CONSTRAINT products_sku_not_blank CHECK (sku <> '') NOT VALID;
ALTER TABLE products ALTER COLUMN sku TYPE text;
