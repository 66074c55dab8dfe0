-- expect: drop-view
-- The dashboard reads sales_summary now.
SET lock_timeout = '2s';
DROP MATERIALIZED VIEW daily_sales;
