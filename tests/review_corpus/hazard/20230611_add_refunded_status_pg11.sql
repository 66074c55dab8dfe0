-- expect: enum-add-value-in-transaction
-- pg: 11
-- txn: wrapped
-- Rails runs every migration in a transaction.
ALTER TYPE order_status ADD VALUE 'refunded';
