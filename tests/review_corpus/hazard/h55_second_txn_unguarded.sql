-- expect: missing-lock-timeout
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN billing_email text;
COMMIT;

BEGIN;
ALTER TABLE invoices ADD COLUMN billing_email text;
COMMIT;
