-- A conditional append's boundary locks, before its check takes its snapshot: the
-- condition's keys EXCLUSIVE (%(exclusive)s true) and the appended events' other keys
-- shared, all in ascending key order (the one global lock order: see
-- postgres/_boundary.py).  lock_timeout bounds the wait (retryable, nothing written).
-- plan_cache_mode: the check statement that follows is prepared once and runs on its
-- generic plan (its branches are all index-driven whatever the values; planning it
-- afresh each time costs more than running it).
SELECT set_config('lock_timeout', %(lock_timeout)s, true),
       set_config('plan_cache_mode', 'force_generic_plan', true),
       (SELECT count(*) FROM unnest(%(keys)s::bigint[], %(exclusive)s::bool[]) AS l (k, x)
        WHERE (CASE WHEN l.x THEN pg_advisory_xact_lock(l.k)
                    ELSE pg_advisory_xact_lock_shared(l.k) END) IS NOT NULL)
