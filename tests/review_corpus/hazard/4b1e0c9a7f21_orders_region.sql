-- expect: create-index-non-concurrent, backfill-in-same-transaction-as-ddl, unbatched-backfill, missing-lock-timeout
BEGIN;

-- Running upgrade 9c8d7e5f4a3b -> 4b1e0c9a7f21

CREATE INDEX ix_orders_customer_id ON orders (customer_id);

UPDATE orders SET region = 'eu' WHERE country IN ('DE', 'FR', 'NL');

UPDATE alembic_version SET version_num='4b1e0c9a7f21' WHERE alembic_version.version_num = '9c8d7e5f4a3b';

COMMIT;
