-- expect: column-type-change-rewrite
-- txn: wrapped
-- Amounts overflow int4 for enterprise customers.
SET lock_timeout = '3s';
ALTER TABLE payments ALTER COLUMN amount_cents TYPE bigint;
