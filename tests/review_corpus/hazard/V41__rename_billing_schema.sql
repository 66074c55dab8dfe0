-- expect: rename-schema
-- txn: wrapped
ALTER SCHEMA billing RENAME TO invoicing;
