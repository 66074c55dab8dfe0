-- expect: none
-- pg: 12
-- txn: wrapped
ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'archived';
ALTER TYPE invoice_status ADD VALUE IF NOT EXISTS 'archived';
