-- expect: rename-view
SET lock_timeout = '2s';
ALTER VIEW active_customers RENAME TO customers_active;
