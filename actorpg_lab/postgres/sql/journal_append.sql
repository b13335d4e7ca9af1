-- Head check and inserts in ONE statement: one round trip, one transaction.
-- Nothing is inserted unless the head equals %(expected)s.  A racing writer that
-- passes the same check blocks on the primary key and then fails with 23505.
-- The tag rows are derived from the CSV mirror of the rows actually inserted (tags
-- never contain commas), so no separate tag arrays travel.  Arrays go in binary.
-- %(keys)s: the boundary keys of the events' tags and types (distinct, ascending), locked
-- shared before any row is inserted (postgres/_boundary.py says why).
WITH head AS (
    SELECT GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
    ) AS seq
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
locks AS (
    SELECT count(pg_advisory_xact_lock_shared(k)) AS n FROM unnest(%(keys)b::bigint[]) AS k
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + e.ord, e.payload, e.tags, clock.ms{metadata_value}
    FROM unnest(%(payloads)b::text[], %(tags_csv)b::text[], %(metas)b::text[])
             WITH ORDINALITY AS e (payload, tags, meta, ord),
         head, clock, locks
    WHERE head.seq = %(expected)s AND locks.n >= 0
    RETURNING sequence_nr, tags, pg_current_xact_id() AS position  -- = the column default
),
inserted_tags AS (
    INSERT INTO {tags} (persistence_id, sequence_nr, tag, timestamp)
    SELECT %(pid)s, i.sequence_nr, t.tag, clock.ms
    FROM inserted_events i
         CROSS JOIN LATERAL unnest(string_to_array(i.tags, ',')) AS t (tag),
         clock
    WHERE i.tags <> ''
)
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       CASE WHEN head.seq = %(expected)s AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock
