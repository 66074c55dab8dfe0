DO LANGUAGE plperl $$
  spi_exec_query('ALTER TABLE audit_log DROP COLUMN payload');
$$;
