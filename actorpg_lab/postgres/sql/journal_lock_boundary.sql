-- A conditional append's boundary locks, before its check takes its snapshot: the
-- condition's keys EXCLUSIVE ({exclusive} true) and the appended events' other keys
-- shared, all in ascending key order (the one global lock order: see
-- postgres/_boundary.py).  lock_timeout bounds the wait (retryable, nothing written).
-- The settings are for the check-and-append that follows (journal_append_if.sql): it
-- runs on its generic plan (planning it afresh costs more than running it), and that
-- plan must be the index-driven one whatever the statistics say (a generic plan knows
-- neither the tags nor the bound: with few distinct tags or one type for most events
-- the averages would favour scans), so sequential scans, hash and merge joins are off.
-- The placeholders are the parameters of journal_append_if_function.sql (which runs
-- this first) or, on a database without that function, bound parameters.
SELECT set_config('lock_timeout', {lock_timeout}, true),
       set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_seqscan', 'off', true),
       set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true),
       (SELECT count(*) FROM unnest({keys}, {exclusive}) AS l (k, x)
        WHERE (CASE WHEN l.x THEN pg_advisory_xact_lock(l.k)
                    ELSE pg_advisory_xact_lock_shared(l.k) END) IS NOT NULL)
