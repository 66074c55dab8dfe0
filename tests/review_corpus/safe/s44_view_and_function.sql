-- expect: none
CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE deleted_at IS NULL;
CREATE OR REPLACE FUNCTION normalize_email(e text) RETURNS text AS $$
  SELECT lower(trim(e))
$$ LANGUAGE sql IMMUTABLE;
