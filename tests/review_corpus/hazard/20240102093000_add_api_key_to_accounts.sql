-- expect: add-column-volatile-default
-- migrate:up
SET LOCAL lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN api_key uuid NOT NULL DEFAULT gen_random_uuid();

-- migrate:down
ALTER TABLE accounts DROP COLUMN api_key;
