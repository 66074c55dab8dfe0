-- expect: none
UPDATE feature_flags SET enabled = true WHERE name = 'new_checkout';
INSERT INTO feature_flags (name, enabled) VALUES ('new_search', false) ON CONFLICT (name) DO NOTHING;
