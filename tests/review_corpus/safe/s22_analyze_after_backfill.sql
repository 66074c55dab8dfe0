-- expect: none
VACUUM (ANALYZE) users;
ANALYZE orders;
VACUUM VERBOSE order_items;
