-- expect: none
-- txn: wrapped
-- Flyway runs a migration of DROP INDEX CONCURRENTLY alone outside a transaction.
DROP INDEX CONCURRENTLY IF EXISTS orders_legacy_status_idx;
