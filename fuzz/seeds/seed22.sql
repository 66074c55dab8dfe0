-- schemashift-ignore rename-column
ALTER TABLE a RENAME COLUMN x TO y;
-- schemashift-ignore
DROP TABLE b;
