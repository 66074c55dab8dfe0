-- expect: missing-lock-timeout
-- The new foreign key locks the existing table it references against writes
-- (SHARE ROW EXCLUSIVE) until commit, and no lock_timeout caps the wait for it.
CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    number text NOT NULL,
    total_cents bigint NOT NULL DEFAULT 0,
    issued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_account_id_idx ON invoices (account_id);
CREATE UNIQUE INDEX invoices_number_key ON invoices (number);
ALTER TABLE invoices ADD CONSTRAINT invoices_total_nonnegative CHECK (total_cents >= 0);
ALTER TABLE invoices ADD CONSTRAINT invoices_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE invoices ALTER COLUMN number SET NOT NULL;
