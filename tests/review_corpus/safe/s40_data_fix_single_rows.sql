-- expect: none
BEGIN;
UPDATE users SET role = 'admin' WHERE email = 'ops@example.com';
UPDATE orders SET status = 'cancelled' WHERE id IN (88172, 88173, 88190);
DELETE FROM feature_flags WHERE key = 'legacy_checkout';
COMMIT;
