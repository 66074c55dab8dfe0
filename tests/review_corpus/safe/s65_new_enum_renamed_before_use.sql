-- expect: none
CREATE TYPE ticket_state AS ENUM ('open', 'close');
ALTER TYPE ticket_state RENAME VALUE 'close' TO 'closed';
ALTER TYPE ticket_state RENAME TO support_ticket_state;
