-- Written as for MySQL: PostgreSQL has no UPDATE ... LIMIT.
UPDATE sessions SET revoked = true WHERE expires_at < now() LIMIT 10000;
