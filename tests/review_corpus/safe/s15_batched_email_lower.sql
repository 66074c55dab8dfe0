-- expect: none
-- Backfill in key ranges, each statement its own transaction.
UPDATE users SET email_lower = lower(email) WHERE id BETWEEN 1 AND 10000 AND email_lower IS NULL;
UPDATE users SET email_lower = lower(email) WHERE id BETWEEN 10001 AND 20000 AND email_lower IS NULL;
UPDATE users SET email_lower = lower(email) WHERE id BETWEEN 20001 AND 30000 AND email_lower IS NULL;
UPDATE users SET email_lower = lower(email) WHERE id >= 30001 AND id < 40001 AND email_lower IS NULL;
