-- expect: create-index-non-concurrent, missing-lock-timeout
-- Speed up login lookups by email.
CREATE INDEX index_users_on_email ON users (email);
