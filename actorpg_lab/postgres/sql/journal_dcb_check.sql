-- Whether what conditional appends need exists: the event-type function and its index
-- (both valid).  A database without them (auto_create_tables=False) gets migrate_dcb.sql.
SELECT to_regprocedure(%(function)s) IS NOT NULL,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indexrelid = to_regclass(quote_ident(%(index)s)) AND i.indisvalid)
