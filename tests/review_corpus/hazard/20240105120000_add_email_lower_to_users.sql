-- expect: backfill-in-same-transaction-as-ddl, unbatched-backfill, missing-lock-timeout
-- rails db:migrate, the SQL it ran
BEGIN;
ALTER TABLE "users" ADD "email_lower" character varying;
UPDATE "users" SET "email_lower" = lower(email);
INSERT INTO "schema_migrations" ("version") VALUES ('20240105120000');
COMMIT;
