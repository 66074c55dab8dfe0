-- expect: drop-view
-- python manage.py sqlmigrate reports 0057
BEGIN;
--
-- Raw SQL operation
--
SET LOCAL lock_timeout = '2s';
DROP VIEW IF EXISTS "reports_active_customers";
COMMIT;
