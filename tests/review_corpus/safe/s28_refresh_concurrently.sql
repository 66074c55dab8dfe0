-- expect: none
REFRESH MATERIALIZED VIEW CONCURRENTLY monthly_revenue;
