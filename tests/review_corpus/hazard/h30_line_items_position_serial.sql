-- expect: add-serial-or-identity-column, missing-lock-timeout
ALTER TABLE line_items ADD COLUMN position serial;
