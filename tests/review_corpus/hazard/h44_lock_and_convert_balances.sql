-- expect: missing-lock-timeout, backfill-in-same-transaction-as-ddl, unbatched-backfill
BEGIN;
LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE;
UPDATE accounts SET balance_cents = round(balance * 100);
COMMIT;
