-- expect: none
CREATE TABLE plans (
    id bigserial PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    price_cents integer NOT NULL
);
INSERT INTO plans (code, name, price_cents) VALUES
    ('free', 'Free', 0),
    ('pro', 'Pro', 1900),
    ('team', 'Team', 4900);
CREATE INDEX plans_price_cents_idx ON plans (price_cents);
UPDATE plans SET name = 'Pro (monthly)';
