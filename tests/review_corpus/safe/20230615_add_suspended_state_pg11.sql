-- expect: none
-- pg: 11
-- migrate:up transaction:false
ALTER TYPE account_state ADD VALUE IF NOT EXISTS 'suspended';

-- migrate:down
