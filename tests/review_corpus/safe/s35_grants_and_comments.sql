-- expect: none
COMMENT ON COLUMN users.email IS 'Login, unique, lower case';
GRANT SELECT ON users TO reporting;
GRANT SELECT, INSERT, UPDATE ON orders TO app_rw;
