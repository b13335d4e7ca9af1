-- read_matching in ONE statement on its generic plan: the journal calls this function
-- (journal_read_matching_call.sql) on the warm connection, prepared, like the appends.
-- The same events as journal_read_matching.sql (what a database without this function
-- runs), in key order, at most p_limit, each row with the snapshot of the statement
-- that read them (the consistency token: what the decision saw; a VOLATILE function
-- takes a fresh snapshot for its statement).  Why a function: the statement's custom
-- plans cost more to make than to run (measured: ~0.4 ms of planning per read, and a
-- prepared statement never switched to its generic plan); here it always runs its
-- generic plan, and that plan must be index-driven whatever the statistics say (a
-- generic plan knows neither the tags nor the bound), so — as in
-- journal_lock_boundary.sql for the conditional append — sequential scans, hash and
-- merge joins are off while it runs (the SET clauses end with the call), so is parallel
-- query (a generic plan of a large journal gave the Query.all() branch a Gather whose
-- two workers were started at every call, its one-time filter false or not: +3 ms a
-- read from ~3M events on, measured by the --scale decision curve), and each tag
-- item's tag rows and events are looked up per item through OFFSET 0 laterals, as in
-- journal_append_if.sql's check; a types-only item's bound is written as a row
-- comparison over the type index's columns, which only that index can use (a generic
-- plan rates "position >= lo" as a third of the journal and would otherwise scan every
-- event since lo by position, whatever its type).  The inputs: p_match_all (Query.all()), p_lo (the
-- lowest position the "after" bound lets through), the bound itself (p_snap, p_u_*:
-- a token; p_a_*: an offset key), and the query's items as JSON texts: p_items the tag
-- items (idx, first tag, all tags as CSV, typed), p_item_types their (idx, type) pairs,
-- p_type_items the names of the types-only items (JSON-escaped, aliases expanded).
-- One row with NULL columns when nothing matches.
CREATE OR REPLACE FUNCTION {function}(
    p_match_all boolean, p_lo text, p_snap text, p_u_pos text, p_u_pid text,
    p_u_seq bigint, p_a_pos text, p_a_pid text, p_a_seq bigint,
    p_items json, p_item_types json, p_type_items json, p_limit bigint)
RETURNS TABLE (o_snapshot text, o_position bigint, o_pid text, o_seq bigint,
               o_payload text, o_tags text, o_timestamp bigint, o_metadata text)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET max_parallel_workers_per_gather = 0
AS $read_matching$
DECLARE
    lo xid8 := p_lo::xid8;
    snap pg_snapshot := p_snap::pg_snapshot;
    u_pos xid8 := p_u_pos::xid8;
    a_pos xid8 := p_a_pos::xid8;
BEGIN
    RETURN QUERY
SELECT s.snapshot, m.position::text::bigint, m.persistence_id, m.sequence_nr, m.payload,
       m.tags, m.timestamp, m.metadata
FROM (SELECT pg_current_snapshot()::text AS snapshot) AS s
     LEFT JOIN LATERAL (
         SELECT DISTINCT ON (u.position, u.persistence_id, u.sequence_nr) u.*
         FROM (
             SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags,
                    e.timestamp, e.metadata
             FROM json_to_recordset(p_items) AS it (idx int, tag text, tags text, typed bool)
                  CROSS JOIN LATERAL (
                      SELECT t.persistence_id, t.sequence_nr FROM {tags} t
                      WHERE t.tag = it.tag AND t.position >= lo
                      OFFSET 0
                  ) AS t
                  CROSS JOIN LATERAL (
                      SELECT * FROM {events} x
                      WHERE x.persistence_id = t.persistence_id
                        AND x.sequence_nr = t.sequence_nr
                      OFFSET 0
                  ) AS e
             WHERE string_to_array(e.tags, ',') @> string_to_array(it.tags, ',')
               AND (NOT it.typed OR {type_fn}(e.payload) IN (
                     SELECT tt.name FROM json_to_recordset(p_item_types) AS tt (idx int, name text)
                     WHERE tt.idx = it.idx))
               AND {after}
             UNION ALL
             SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags,
                    e.timestamp, e.metadata
             FROM json_to_recordset(p_type_items) AS yo (name text)
                  CROSS JOIN LATERAL (
                      SELECT * FROM {events} x
                      WHERE {type_fn}(x.payload) = yo.name
                        AND ({type_fn}(x.payload), x.position) >= (yo.name, lo)
                      OFFSET 0
                  ) AS e
             WHERE {after}
             UNION ALL
             SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags,
                    e.timestamp, e.metadata
             FROM {events} e
             WHERE p_match_all AND e.position >= lo AND {after}
         ) AS u
         ORDER BY u.position, u.persistence_id, u.sequence_nr
         LIMIT p_limit
     ) AS m ON true
ORDER BY m.position, m.persistence_id, m.sequence_nr;
END
$read_matching$
