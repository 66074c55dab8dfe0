-- expect: enum-add-value-in-transaction
-- txn: wrapped
SET lock_timeout = '2s';
ALTER TYPE ticket_state ADD VALUE 'triage' BEFORE 'open';
ALTER TABLE tickets ALTER COLUMN state SET DEFAULT 'triage';
