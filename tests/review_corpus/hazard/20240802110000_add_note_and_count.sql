-- expect: scan-after-ddl-in-transaction
-- rails db:migrate, the SQL it ran (the migration logs how many orders it touched)
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE "orders" ADD "gift_note" text;
SELECT COUNT(*) FROM "orders";
COMMIT;
