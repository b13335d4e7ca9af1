-- Manual migration for conditional appends (DCB) and the event-type index, for
-- databases where the application role may not run DDL
-- (PostgresJournal(auto_create_tables=False)).  Run it as the tables' owner, e.g.
--
--     psql "$DATABASE_URL" -f migrate_dcb.sql
--
-- It is idempotent.  It assumes the default table name events; with
-- PostgresJournal(events_table="x") replace events by x (in the function, the index and
-- their names).  Until it ran, conditional appends (append(..., condition=...)) and
-- read_matching raise JournalError naming this script; plain appends keep working (and
-- take their boundary locks regardless: that needs no DDL).
--
-- What it does, and why it does not stall the application:
-- * creates (or, from an earlier version's STRICT body, replaces: same results, faster
--   because PostgreSQL can inline it) the IMMUTABLE function events_type_v1(payload): the event type is the name
--   in the codec's envelope, so no column is added and no row is rewritten;
-- * creates the function events_append_if_v1 that runs a conditional append (or a group
--   of them) as one statement: its boundary locks, then the check and the append (the
--   text below is what PostgresJournal creates itself with auto_create_tables=True; a
--   database without it runs conditional appends as a pipeline of statements instead,
--   correct but slower);
-- * creates the function events_read_matching_v1 that runs read_matching on its generic
--   plan (same text as PostgresJournal creates; without it read_matching runs its
--   statement, planned afresh at every call: correct but slower);
-- * builds the index events_by_type on it CONCURRENTLY: writers keep writing.  (CREATE
--   INDEX CONCURRENTLY cannot run inside a transaction block: run this file with psql's
--   default autocommit, not with --single-transaction.)
-- The role the application uses needs EXECUTE on the function (granted to PUBLIC by
-- default).

CREATE OR REPLACE FUNCTION events_type_v1(payload text) RETURNS text
LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$ SELECT CASE WHEN starts_with(payload, '{"' || chr(36) || 'type":"') THEN
    CASE WHEN strpos(substr(payload, 11, 1014), '"') > 0
              AND strpos(split_part(substr(payload, 11, 1014), '"', 1), '\') = 0
         THEN split_part(substr(payload, 11, 1014), '"', 1)
         ELSE substring(left(payload, 1024) from '^\{"[$]type":"((?:[^"\\]|\\.)*)"')
    END
END $$;

CREATE OR REPLACE FUNCTION "events_append_if_v1"(
    p_keys bigint[], p_exclusive boolean[], p_lock_timeout text, p_lock_all boolean,
    p_reqs json, p_items json, p_item_types json, p_type_items json, p_events json,
    p_notify boolean, p_channel text)
RETURNS TABLE (o_head bigint, o_timestamp bigint, o_position bigint, o_c_position bigint,
               o_c_pid text, o_c_seq bigint, o_c_type text, o_c_tags text)
LANGUAGE plpgsql VOLATILE AS $append_if$
BEGIN
    PERFORM * FROM (
SELECT set_config('lock_timeout', p_lock_timeout, true),
       set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_seqscan', 'off', true),
       set_config('enable_hashjoin', 'off', true),
       set_config('enable_mergejoin', 'off', true),
       (SELECT count(*) FROM unnest(p_keys, p_exclusive) AS l (k, x)
        WHERE (CASE WHEN l.x THEN pg_advisory_xact_lock(l.k)
                    ELSE pg_advisory_xact_lock_shared(l.k) END) IS NOT NULL)
    ) AS locked;
    IF p_lock_all THEN
        LOCK TABLE "events" IN SHARE ROW EXCLUSIVE MODE;
    END IF;
    RETURN QUERY
WITH req AS (
    SELECT r.idx, r.pid, r.expected, r.match_all, r.lo::xid8 AS lo,
           r.snap::pg_snapshot AS snap, r.u_pos::xid8 AS u_pos, r.u_pid, r.u_seq, r.a_pos::xid8 AS a_pos, r.a_pid, r.a_seq
    FROM json_to_recordset(p_reqs) AS r (
        idx int, pid text, expected bigint, match_all bool, lo text, snap text, u_pos text,
        u_pid text, u_seq bigint, a_pos text, a_pid text, a_seq bigint)
),
it AS (
    SELECT * FROM json_to_recordset(p_items)
                      AS i (req int, idx int, tag text, tags text, typed bool)
),
tt AS (
    SELECT * FROM json_to_recordset(p_item_types) AS t (idx int, name text)
),
yo AS (
    SELECT * FROM json_to_recordset(p_type_items) AS y (req int, name text)
),
conflict AS (
    SELECT req.idx, c.position, c.persistence_id, c.sequence_nr, c.type, c.tags
    FROM req CROSS JOIN LATERAL (
        SELECT m.position::text::bigint AS position, m.persistence_id, m.sequence_nr,
               "events_type_v1"(m.payload) AS type, m.tags
        FROM (
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM it
                 CROSS JOIN LATERAL (  -- per item, never flattened: see journal_match_tags.sql
                     SELECT t.persistence_id, t.sequence_nr FROM "events_tags" t
                     WHERE t.tag = it.tag AND t.position >= req.lo
                     OFFSET 0
                 ) AS t
                 CROSS JOIN LATERAL (
                     SELECT * FROM "events" x
                     WHERE x.persistence_id = t.persistence_id
                       AND x.sequence_nr = t.sequence_nr
                     OFFSET 0
                 ) AS e
            WHERE it.req = req.idx
              AND string_to_array(e.tags, ',') @> string_to_array(it.tags, ',')
              AND (NOT it.typed OR "events_type_v1"(e.payload) IN (
                    SELECT tt.name FROM tt WHERE tt.idx = it.idx))
              AND (req.snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, req.snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.u_pos, req.u_pid, req.u_seq))
AND (req.a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.a_pos, req.a_pid, req.a_seq))
            UNION ALL
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM yo
                 CROSS JOIN LATERAL (
                     SELECT * FROM "events" x
                     WHERE "events_type_v1"(x.payload) = yo.name AND x.position >= req.lo
                     OFFSET 0
                 ) AS e
            WHERE yo.req = req.idx AND (req.snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, req.snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.u_pos, req.u_pid, req.u_seq))
AND (req.a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.a_pos, req.a_pid, req.a_seq))
            UNION ALL
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM "events" e
            WHERE req.match_all AND e.position >= req.lo AND (req.snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, req.snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.u_pos, req.u_pid, req.u_seq))
AND (req.a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (req.a_pos, req.a_pid, req.a_seq))
        ) AS m
        LIMIT 1
    ) AS c
),
head AS (
    SELECT req.idx, req.pid, req.expected, GREATEST(
        COALESCE((SELECT max(e.sequence_nr) FROM "events" e WHERE e.persistence_id = req.pid), 0),
        COALESCE((SELECT m.deleted_to FROM "events_meta" m WHERE m.persistence_id = req.pid), 0)
    ) AS seq
    FROM req
),
ok AS (
    SELECT head.idx, head.pid, head.expected
    FROM head
    WHERE head.seq = head.expected
      AND NOT EXISTS (SELECT 1 FROM conflict c WHERE c.idx = head.idx)
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
inserted_events AS (
    INSERT INTO "events" (persistence_id, sequence_nr, payload, tags, timestamp, metadata)
    SELECT ok.pid, ok.expected + ev.ord, ev.payload, ev.tags, clock.ms, ev.meta
    FROM json_to_recordset(p_events)
             AS ev (idx int, ord bigint, payload text, tags text, meta text)
         JOIN ok ON ok.idx = ev.idx,
         clock
    RETURNING persistence_id, sequence_nr, tags, pg_current_xact_id() AS position
),
inserted_tags AS (
    INSERT INTO "events_tags" (persistence_id, sequence_nr, tag, timestamp)
    SELECT i.persistence_id, i.sequence_nr, t.tag, clock.ms
    FROM inserted_events i
         CROSS JOIN LATERAL unnest(string_to_array(i.tags, ',')) AS t (tag),
         clock
    WHERE i.tags <> ''
),
notified AS (
    SELECT CASE WHEN p_notify AND EXISTS (SELECT 1 FROM ok) THEN pg_notify(p_channel, '') END
)
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       c.position, c.persistence_id, c.sequence_nr, c.type, c.tags
FROM head CROSS JOIN clock CROSS JOIN notified LEFT JOIN conflict c ON c.idx = head.idx
ORDER BY head.idx;
END
$append_if$;

CREATE OR REPLACE FUNCTION "events_read_matching_v1"(
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
                      SELECT t.persistence_id, t.sequence_nr FROM "events_tags" t
                      WHERE t.tag = it.tag AND t.position >= lo
                      OFFSET 0
                  ) AS t
                  CROSS JOIN LATERAL (
                      SELECT * FROM "events" x
                      WHERE x.persistence_id = t.persistence_id
                        AND x.sequence_nr = t.sequence_nr
                      OFFSET 0
                  ) AS e
             WHERE string_to_array(e.tags, ',') @> string_to_array(it.tags, ',')
               AND (NOT it.typed OR "events_type_v1"(e.payload) IN (
                     SELECT tt.name FROM json_to_recordset(p_item_types) AS tt (idx int, name text)
                     WHERE tt.idx = it.idx))
               AND (snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (u_pos, p_u_pid, p_u_seq))
AND (a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (a_pos, p_a_pid, p_a_seq))
             UNION ALL
             SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags,
                    e.timestamp, e.metadata
             FROM json_to_recordset(p_type_items) AS yo (name text)
                  CROSS JOIN LATERAL (
                      SELECT * FROM "events" x
                      WHERE "events_type_v1"(x.payload) = yo.name
                        AND ("events_type_v1"(x.payload), x.position) >= (yo.name, lo)
                      OFFSET 0
                  ) AS e
             WHERE (snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (u_pos, p_u_pid, p_u_seq))
AND (a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (a_pos, p_a_pid, p_a_seq))
             UNION ALL
             SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags,
                    e.timestamp, e.metadata
             FROM "events" e
             WHERE p_match_all AND e.position >= lo AND (snap IS NULL
 OR NOT pg_visible_in_snapshot(e.position, snap)
 OR (e.position, e.persistence_id, e.sequence_nr) > (u_pos, p_u_pid, p_u_seq))
AND (a_pos IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > (a_pos, p_a_pid, p_a_seq))
         ) AS u
         ORDER BY u.position, u.persistence_id, u.sequence_nr
         LIMIT p_limit
     ) AS m ON true
ORDER BY m.position, m.persistence_id, m.sequence_nr;
END
$read_matching$;

-- A failed concurrent build leaves an INVALID index behind: drop it first if so
-- (DROP INDEX CONCURRENTLY events_by_type;) and rerun.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_by_type
    ON events (events_type_v1(payload), position, persistence_id, sequence_nr);

-- With PostgresJournal(log_conflicts=True): the conflict log (events_conflicts, if it
-- exists) records failed conditions too, in these nullable columns (catalog-only: no
-- rewrite, older rows read NULL, a head conflict).  Until they exist, a failed
-- condition is logged as a warning instead of recorded.
ALTER TABLE IF EXISTS events_conflicts ADD COLUMN IF NOT EXISTS kind TEXT,
    ADD COLUMN IF NOT EXISTS query TEXT,
    ADD COLUMN IF NOT EXISTS conflict_position BIGINT,
    ADD COLUMN IF NOT EXISTS conflict_pid TEXT,
    ADD COLUMN IF NOT EXISTS conflict_seq BIGINT;
