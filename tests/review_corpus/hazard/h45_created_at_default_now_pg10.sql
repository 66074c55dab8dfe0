-- expect: add-column-default-pre-pg11
-- pg: 10
SET lock_timeout = '2s';
ALTER TABLE comments ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
