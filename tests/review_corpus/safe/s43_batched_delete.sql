-- expect: none
DELETE FROM events WHERE id IN (SELECT id FROM events WHERE occurred_at < '2022-01-01' ORDER BY id LIMIT 5000);
