-- expect: add-foreign-key-validating, missing-lock-timeout
-- alembic upgrade 3f2a1b6c0d4e:9c8d7e5f4a3b --sql
BEGIN;

-- Running upgrade 3f2a1b6c0d4e -> 9c8d7e5f4a3b

ALTER TABLE orders ADD COLUMN shipped_at TIMESTAMP WITHOUT TIME ZONE;

ALTER TABLE orders ADD COLUMN carrier_id INTEGER;

ALTER TABLE orders ADD CONSTRAINT fk_orders_carrier_id_carriers FOREIGN KEY(carrier_id) REFERENCES carriers (id);

UPDATE alembic_version SET version_num='9c8d7e5f4a3b' WHERE alembic_version.version_num = '3f2a1b6c0d4e';

COMMIT;
