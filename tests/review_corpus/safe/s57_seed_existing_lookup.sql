-- expect: none
INSERT INTO currencies (code, name, minor_units) VALUES
    ('EUR', 'Euro', 2),
    ('JPY', 'Yen', 0)
ON CONFLICT (code) DO NOTHING;
