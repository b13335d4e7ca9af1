-- Who holds the visibility horizon back: the open transaction with the oldest
-- transaction id (its backend pid, how long it has been open, what it runs), or a
-- prepared transaction (pid NULL).  Other roles' sessions may be hidden without
-- pg_read_all_stats: then nothing is returned.
(SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS age_s, state,
        left(query, 200) AS query
 FROM pg_stat_activity
 WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
 ORDER BY age(backend_xid) DESC
 LIMIT 1)
UNION ALL
(SELECT NULL::int, extract(epoch FROM now() - prepared)::float8, 'prepared', gid
 FROM pg_prepared_xacts
 ORDER BY age(transaction) DESC
 LIMIT 1)
