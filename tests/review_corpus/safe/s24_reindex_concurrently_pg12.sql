-- expect: none
-- pg: 12
REINDEX INDEX CONCURRENTLY index_users_on_email;
