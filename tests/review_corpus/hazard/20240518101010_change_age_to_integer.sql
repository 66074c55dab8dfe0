-- expect: column-type-change-rewrite
-- rails db:migrate, the SQL it ran (lock_timeout from the app's database.yml variables)
BEGIN;
SET LOCAL lock_timeout = '5s';
ALTER TABLE "users" ALTER COLUMN "age" TYPE integer USING age::integer;
INSERT INTO "schema_migrations" ("version") VALUES ('20240518101010');
COMMIT;
