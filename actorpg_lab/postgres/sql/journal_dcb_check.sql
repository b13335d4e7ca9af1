-- Whether what conditional appends need exists: the event-type function and its index
-- (both valid).  A database without them (auto_create_tables=False) gets migrate_dcb.sql.
-- Third: whether the conditional-append function exists (without it, from an earlier
-- migrate_dcb.sql, conditional appends run as a pipeline of statements instead);
-- fourth: the same for the read_matching function (without it read_matching runs its
-- statement, planned at every call).
SELECT to_regprocedure(%(function)s) IS NOT NULL,
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indexrelid = to_regclass(quote_ident(%(index)s)) AND i.indisvalid),
       to_regprocedure(%(append_if)s) IS NOT NULL,
       to_regprocedure(%(read_matching)s) IS NOT NULL
