-- expect: missing-lock-timeout
-- The new foreign key locks the existing table it references against writes
-- (SHARE ROW EXCLUSIVE) until commit, and no lock_timeout caps the wait for it.
-- alembic upgrade head --sql
BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> e1f2a3b4c5d6

CREATE TABLE webhooks (
    id SERIAL NOT NULL,
    account_id INTEGER NOT NULL,
    url VARCHAR(2048) NOT NULL,
    secret VARCHAR(64) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_webhooks_account_id ON webhooks (account_id);

INSERT INTO alembic_version (version_num) VALUES ('e1f2a3b4c5d6') RETURNING alembic_version.version_num;

COMMIT;
