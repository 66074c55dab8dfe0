-- expect: enum-add-value-in-transaction
-- pg: 12
-- txn: wrapped
ALTER TYPE role_kind ADD VALUE 'partner';
INSERT INTO roles (name, kind) VALUES ('Partner admin', 'partner');
