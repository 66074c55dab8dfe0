-- expect: none
-- pg: 13
BEGIN;
ALTER TYPE ticket_priority ADD VALUE IF NOT EXISTS 'urgent';
COMMIT;

BEGIN;
UPDATE tickets SET priority = 'urgent' WHERE id = 31337;
COMMIT;
