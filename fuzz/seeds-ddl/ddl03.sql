ALTER TABLE customers ADD COLUMN street text, ADD COLUMN city text, ADD COLUMN zip text;
UPDATE customers SET street = split_part(address, ',', 1), city = split_part(address, ',', 2), zip = split_part(address, ',', 3);
ALTER TABLE customers DROP COLUMN address;