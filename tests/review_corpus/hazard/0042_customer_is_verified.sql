-- expect: create-index-non-concurrent, missing-lock-timeout
-- python manage.py sqlmigrate shop 0042
BEGIN;
--
-- Add field is_verified to customer
--
ALTER TABLE "shop_customer" ADD COLUMN "is_verified" boolean DEFAULT false NOT NULL;
ALTER TABLE "shop_customer" ALTER COLUMN "is_verified" DROP DEFAULT;
--
-- Alter field email on customer
--
CREATE INDEX "shop_customer_email_3c1f4b8e" ON "shop_customer" ("email");
CREATE INDEX "shop_customer_email_3c1f4b8e_like" ON "shop_customer" ("email" varchar_pattern_ops);
COMMIT;
