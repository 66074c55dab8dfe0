-- expect: add-stored-generated-column, missing-lock-timeout
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, ''))) STORED;
