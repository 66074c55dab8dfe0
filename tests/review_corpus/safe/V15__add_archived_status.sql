-- expect: none
-- pg: 12
-- txn: wrapped
-- New value, used by the application from the next release on.
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'archived';
