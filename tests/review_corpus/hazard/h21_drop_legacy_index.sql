-- expect: drop-index-non-concurrent
SET lock_timeout = '2s';
DROP INDEX index_orders_on_legacy_ref;
