-- expect: none
DROP INDEX idx_orders_customer_id;
DROP TABLE orders;
