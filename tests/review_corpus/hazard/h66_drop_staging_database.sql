-- expect: drop-database
-- Recreate the staging copy from scratch.
DROP DATABASE IF EXISTS shop_staging WITH (FORCE);
CREATE DATABASE shop_staging TEMPLATE shop;
