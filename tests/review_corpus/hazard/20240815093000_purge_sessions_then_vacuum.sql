-- expect: vacuum-in-transaction
-- txn: wrapped
-- Rails migration printed by `rails db:migrate:up VERSION=20240815093000` with
-- the default DDL transaction: the VACUUM after the batched cleanup fails.
SET lock_timeout = '2s';
DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() - interval '30 days' LIMIT 5000);
VACUUM (ANALYZE) sessions;
