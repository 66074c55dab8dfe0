-- expect: add-not-null-column-without-default, missing-lock-timeout
ALTER TABLE orders ADD COLUMN status varchar(20) NOT NULL;
