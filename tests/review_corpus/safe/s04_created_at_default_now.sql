-- expect: none
SET lock_timeout = '2s';
ALTER TABLE comments ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE comments ADD COLUMN flagged boolean NOT NULL DEFAULT false;
