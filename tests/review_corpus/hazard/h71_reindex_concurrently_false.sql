-- expect: reindex-non-concurrent, missing-lock-timeout
-- A generated option list turns CONCURRENTLY off: this is plain REINDEX.
REINDEX (VERBOSE, CONCURRENTLY false) INDEX orders_created_at_idx;
