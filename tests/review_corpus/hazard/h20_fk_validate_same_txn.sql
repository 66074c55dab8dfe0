-- expect: validate-in-same-transaction
BEGIN;
SET LOCAL lock_timeout = '2s';
ALTER TABLE order_items ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;
ALTER TABLE order_items VALIDATE CONSTRAINT order_items_order_id_fkey;
COMMIT;
