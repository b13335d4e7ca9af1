-- A conditional append (DCB) in ONE statement and one round trip: the journal calls
-- this function as its own transaction (journal_append_if_call.sql), for one append or
-- a group of them (see journal_append_if.sql).  First the boundary locks: the
-- conditions' keys EXCLUSIVE (p_exclusive true), the appended events' other keys
-- shared, in ascending key order (the one global lock order: postgres/_boundary.py),
-- lock_timeout bounding the wait; for Query.all() the table lock too.  Then the check
-- and the append as a NEW statement: a VOLATILE function takes a fresh snapshot for each
-- statement it runs (READ COMMITTED), so the check sees every event committed before
-- its locks were granted.  plan_cache_mode: the check-and-append runs on its generic
-- plan (planning it afresh costs more than running it), and that plan must be the
-- index-driven one whatever the statistics say (a generic plan knows neither the tags
-- nor the bound: with few distinct tags or one type for most events the averages
-- would favour scans): sequential scans, hash and merge joins are off for it.  Output columns are o_* so no name of the statement is
-- shadowed by a PL/pgSQL variable.
CREATE OR REPLACE FUNCTION {function}(
    p_keys bigint[], p_exclusive boolean[], p_lock_timeout text, p_lock_all boolean,
    p_reqs json, p_items json, p_item_types json, p_type_items json, p_events json,
    p_notify boolean, p_channel text)
RETURNS TABLE (o_head bigint, o_timestamp bigint, o_position bigint, o_c_position bigint,
               o_c_pid text, o_c_seq bigint, o_c_type text, o_c_tags text)
LANGUAGE plpgsql VOLATILE AS $append_if$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true),
            set_config('plan_cache_mode', 'force_generic_plan', true),
            set_config('enable_seqscan', 'off', true),
            set_config('enable_hashjoin', 'off', true),
            set_config('enable_mergejoin', 'off', true);
    PERFORM count(*) FROM unnest(p_keys, p_exclusive) AS l (k, x)
    WHERE (CASE WHEN l.x THEN pg_advisory_xact_lock(l.k)
                ELSE pg_advisory_xact_lock_shared(l.k) END) IS NOT NULL;
    IF p_lock_all THEN
        LOCK TABLE {events} IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    RETURN QUERY
{statement};
END
$append_if$
