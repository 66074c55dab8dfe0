-- expect: missing-lock-timeout
-- The new foreign key locks the existing table it references against writes
-- (SHARE ROW EXCLUSIVE) until commit, and no lock_timeout caps the wait for it.
-- txn: wrapped
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    actor_id    BIGINT REFERENCES users (id),
    action      TEXT NOT NULL,
    payload     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id);
CREATE INDEX audit_log_payload_idx ON audit_log USING gin (payload);
COMMENT ON TABLE audit_log IS 'Who did what, append only';
