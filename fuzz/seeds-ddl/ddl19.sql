CREATE TABLE user_billing (user_id bigint PRIMARY KEY REFERENCES users (id), card_last4 text, card_brand text);
INSERT INTO user_billing (user_id, card_last4, card_brand) SELECT id, card_last4, card_brand FROM users;
ALTER TABLE users DROP COLUMN card_last4, DROP COLUMN card_brand;