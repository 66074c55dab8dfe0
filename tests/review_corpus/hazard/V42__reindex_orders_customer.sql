-- expect: concurrent-index-in-transaction
-- txn: wrapped
-- Flyway runs CREATE/DROP INDEX CONCURRENTLY alone outside a transaction,
-- but REINDEX ... CONCURRENTLY is not on its list: it wraps this file.
REINDEX INDEX CONCURRENTLY orders_customer_id_idx;
