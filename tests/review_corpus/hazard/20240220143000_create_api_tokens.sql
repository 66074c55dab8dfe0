-- expect: missing-lock-timeout
-- The new foreign key locks the existing table it references against writes
-- (SHARE ROW EXCLUSIVE) until commit, and no lock_timeout caps the wait for it.
-- rails db:migrate, the SQL it ran
BEGIN;
CREATE TABLE "api_tokens" ("id" bigserial primary key, "user_id" bigint NOT NULL, "token_digest" character varying NOT NULL, "last_used_at" timestamp(6), "created_at" timestamp(6) NOT NULL, "updated_at" timestamp(6) NOT NULL, CONSTRAINT "fk_rails_f16b5e0447" FOREIGN KEY ("user_id") REFERENCES "users" ("id"));
CREATE INDEX "index_api_tokens_on_user_id" ON "api_tokens" ("user_id");
CREATE UNIQUE INDEX "index_api_tokens_on_token_digest" ON "api_tokens" ("token_digest");
INSERT INTO "schema_migrations" ("version") VALUES ('20240220143000');
COMMIT;
