-- A conditional append (DCB) in ONE statement and one round trip: the journal calls
-- this function as its own transaction (journal_append_if_call.sql), for one append or
-- a group of them (see journal_append_if.sql).  First the boundary locks: the
-- conditions' keys EXCLUSIVE (p_exclusive true), the appended events' other keys
-- shared, in ascending key order (the one global lock order: postgres/_boundary.py),
-- lock_timeout bounding the wait, and the plan settings of what follows
-- (journal_lock_boundary.sql); for Query.all() the table lock too.  Then the check and
-- the append as a NEW statement: a VOLATILE function takes a fresh snapshot for each
-- statement it runs (READ COMMITTED), so the check sees every event committed before
-- its locks were granted.  Output columns are o_* so no name of the statement is
-- shadowed by a PL/pgSQL variable.
CREATE OR REPLACE FUNCTION {function}(
    p_keys bigint[], p_exclusive boolean[], p_lock_timeout text, p_lock_all boolean,
    p_reqs json, p_items json, p_item_types json, p_type_items json, p_events json,
    p_notify boolean, p_channel text)
RETURNS TABLE (o_head bigint, o_timestamp bigint, o_position bigint, o_c_position bigint,
               o_c_pid text, o_c_seq bigint, o_c_type text, o_c_tags text)
LANGUAGE plpgsql VOLATILE AS $append_if$
BEGIN
    PERFORM * FROM (
{locks}
    ) AS locked;
    IF p_lock_all THEN
        LOCK TABLE {events} IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    RETURN QUERY
{statement};
END
$append_if$
