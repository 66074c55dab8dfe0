-- expect: none
BEGIN;
UPDATE accounts SET plan_code = 'legacy' WHERE id > 0 AND id <= 5000 AND plan_code IS NULL;
COMMIT;
BEGIN;
UPDATE accounts SET plan_code = 'legacy' WHERE id > 5000 AND id <= 10000 AND plan_code IS NULL;
COMMIT;
