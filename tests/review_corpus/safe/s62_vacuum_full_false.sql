-- expect: none
-- After the purge: make the dead space reusable, without a rewrite.
VACUUM (FULL false, ANALYZE) sessions;
