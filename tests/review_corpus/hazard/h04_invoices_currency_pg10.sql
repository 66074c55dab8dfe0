-- expect: add-column-default-pre-pg11
-- pg: 10
SET lock_timeout = '5s';
ALTER TABLE invoices ADD COLUMN currency char(3) NOT NULL DEFAULT 'USD';
