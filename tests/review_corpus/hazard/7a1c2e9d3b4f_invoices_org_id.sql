-- expect: backfill-in-same-transaction-as-ddl, unbatched-backfill, missing-lock-timeout
BEGIN;

-- Running upgrade 4b1e0c9a7f21 -> 7a1c2e9d3b4f

ALTER TABLE invoices ADD COLUMN org_id INTEGER;

UPDATE invoices SET org_id = accounts.org_id FROM accounts WHERE invoices.account_id = accounts.id;

UPDATE alembic_version SET version_num='7a1c2e9d3b4f' WHERE alembic_version.version_num = '4b1e0c9a7f21';

COMMIT;
