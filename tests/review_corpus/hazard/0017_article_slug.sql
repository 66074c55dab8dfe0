-- expect: backfill-in-same-transaction-as-ddl, unbatched-backfill, missing-lock-timeout
-- python manage.py sqlmigrate blog 0017
BEGIN;
--
-- Add field slug to article
--
ALTER TABLE "blog_article" ADD COLUMN "slug" varchar(100) NULL;
--
-- Raw SQL operation
--
UPDATE "blog_article" SET "slug" = lower(regexp_replace("title", '[^a-zA-Z0-9]+', '-', 'g'));
COMMIT;
