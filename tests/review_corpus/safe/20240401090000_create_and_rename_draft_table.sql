-- expect: none
-- migrate:up
CREATE TABLE drafts (id bigserial PRIMARY KEY, body text);
ALTER TABLE drafts RENAME COLUMN body TO content;
ALTER TABLE drafts ADD COLUMN author_id bigint NOT NULL;
CREATE INDEX drafts_author_id_idx ON drafts (author_id);

-- migrate:down
DROP TABLE drafts;
