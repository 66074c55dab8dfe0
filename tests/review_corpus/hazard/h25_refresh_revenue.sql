-- expect: refresh-matview-non-concurrent, missing-lock-timeout
REFRESH MATERIALIZED VIEW monthly_revenue;
