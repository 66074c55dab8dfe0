-- expect: reindex-non-concurrent, missing-lock-timeout
-- The index is bloated after the email backfill.
REINDEX INDEX index_users_on_email;
