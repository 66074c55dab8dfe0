-- expect: vacuum-full-or-cluster, missing-lock-timeout
VACUUM FULL ANALYZE audit_events;
