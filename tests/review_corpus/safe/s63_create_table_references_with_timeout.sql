-- expect: none
-- The foreign key locks users against writes until commit: cap the wait.
SET lock_timeout = '2s';
CREATE TABLE api_keys (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id),
  digest text NOT NULL
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
