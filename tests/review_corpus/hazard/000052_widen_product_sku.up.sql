-- expect: column-type-change-recheck
-- golang-migrate: SKUs from the new supplier are longer.
SET lock_timeout = '2s';
ALTER TABLE products ADD CONSTRAINT products_sku_not_blank CHECK (sku <> '') NOT VALID;
ALTER TABLE products VALIDATE CONSTRAINT products_sku_not_blank;
ALTER TABLE products ALTER COLUMN sku TYPE varchar(64);
