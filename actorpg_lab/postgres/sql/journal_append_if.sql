-- THE conditional-append statement (DCB), for one append or a group of them to
-- DIFFERENT streams, run right after journal_lock_boundary.sql took every member's keys
-- (so this statement's snapshot is taken after all of them are held).  A group's
-- members' boundaries do not meet (the journal groups only such appends; Query.all()
-- goes alone), so no member's rows can match another's condition and each check sees
-- what it would see alone.  Per request, the first event matching its condition that
-- its decision did not see: journal_match.sql's branches (tag items, types-only items,
-- every event), each index-driven and bounded below by the request's lo, with the
-- request's "after" bound (journal_match_after.sql over its req columns).
-- The appends arrive as five JSON arrays (the client encodes them in microseconds,
-- where binding two dozen SQL arrays costs more than the server's work): {reqs_json},
-- request r (1-based idx) with its stream, expected head, match_all and "after" bound
-- (lo, snap, u_*, a_*); {items_json}, the tag items of request r (idx unique in the
-- statement), their types in {item_types_json}; {type_items_json}, the types-only names
-- of request r; {events_json}, event ord of request r.  Only the requests whose head
-- matches and whose condition finds no event insert their events and tag rows, and
-- when any did and {notify}, one NOTIFY on {channel}.  The placeholders are the
-- parameters of journal_append_if_function.sql (what runs it) or, on a database
-- without that function, bound parameters of the statement itself.
-- Returns, per request in order: its head, the timestamp, the written position, and
-- the first conflicting event's key, type and tags (NULL when none).
WITH req AS (
    SELECT r.idx, r.pid, r.expected, r.match_all, r.lo::xid8 AS lo,
           r.snap::pg_snapshot AS snap, r.u_pos::xid8 AS u_pos, r.u_pid, r.u_seq, r.a_pos::xid8 AS a_pos, r.a_pid, r.a_seq
    FROM json_to_recordset({reqs_json}) AS r (
        idx int, pid text, expected bigint, match_all bool, lo text, snap text, u_pos text,
        u_pid text, u_seq bigint, a_pos text, a_pid text, a_seq bigint)
),
it AS (
    SELECT * FROM json_to_recordset({items_json})
                      AS i (req int, idx int, tag text, tags text, typed bool)
),
tt AS (
    SELECT * FROM json_to_recordset({item_types_json}) AS t (idx int, name text)
),
yo AS (
    SELECT * FROM json_to_recordset({type_items_json}) AS y (req int, name text)
),
conflict AS (
    SELECT req.idx, c.position, c.persistence_id, c.sequence_nr, c.type, c.tags
    FROM req CROSS JOIN LATERAL (
        SELECT m.position::text::bigint AS position, m.persistence_id, m.sequence_nr,
               {type_fn}(m.payload) AS type, m.tags
        FROM (
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM it
                 CROSS JOIN LATERAL (  -- per item, never flattened: see journal_match_tags.sql
                     SELECT t.persistence_id, t.sequence_nr FROM {tags} t
                     WHERE t.tag = it.tag AND t.position >= req.lo
                     OFFSET 0
                 ) AS t
                 CROSS JOIN LATERAL (
                     SELECT * FROM {events} x
                     WHERE x.persistence_id = t.persistence_id
                       AND x.sequence_nr = t.sequence_nr
                     OFFSET 0
                 ) AS e
            WHERE it.req = req.idx
              AND string_to_array(e.tags, ',') @> string_to_array(it.tags, ',')
              AND (NOT it.typed OR {type_fn}(e.payload) IN (
                    SELECT tt.name FROM tt WHERE tt.idx = it.idx))
              AND {after}
            UNION ALL
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM yo
                 CROSS JOIN LATERAL (
                     SELECT * FROM {events} x
                     WHERE {type_fn}(x.payload) = yo.name AND x.position >= req.lo
                     OFFSET 0
                 ) AS e
            WHERE yo.req = req.idx AND {after}
            UNION ALL
            SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags
            FROM {events} e
            WHERE req.match_all AND e.position >= req.lo AND {after}
        ) AS m
        LIMIT 1
    ) AS c
),
head AS (
    SELECT req.idx, req.pid, req.expected, GREATEST(
        COALESCE((SELECT max(e.sequence_nr) FROM {events} e WHERE e.persistence_id = req.pid), 0),
        COALESCE((SELECT m.deleted_to FROM {meta} m WHERE m.persistence_id = req.pid), 0)
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
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT ok.pid, ok.expected + ev.ord, ev.payload, ev.tags, clock.ms{metadata_value}
    FROM json_to_recordset({events_json})
             AS ev (idx int, ord bigint, payload text, tags text, meta text)
         JOIN ok ON ok.idx = ev.idx,
         clock
    RETURNING persistence_id, sequence_nr, tags, pg_current_xact_id() AS position
),
inserted_tags AS (
    INSERT INTO {tags} (persistence_id, sequence_nr, tag, timestamp)
    SELECT i.persistence_id, i.sequence_nr, t.tag, clock.ms
    FROM inserted_events i
         CROSS JOIN LATERAL unnest(string_to_array(i.tags, ',')) AS t (tag),
         clock
    WHERE i.tags <> ''
),
notified AS (
    SELECT CASE WHEN {notify} AND EXISTS (SELECT 1 FROM ok) THEN pg_notify({channel}, '') END
)
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       c.position, c.persistence_id, c.sequence_nr, c.type, c.tags
FROM head CROSS JOIN clock CROSS JOIN notified LEFT JOIN conflict c ON c.idx = head.idx
ORDER BY head.idx
