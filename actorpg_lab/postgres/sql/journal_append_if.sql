-- A conditional append, run right after journal_lock_boundary.sql in one transaction
-- (so this statement's snapshot is taken after every boundary lock is held): the first
-- event matching the condition's query that the decision did not see (journal_match.sql)
-- and, only when there is none and the head equals %(expected)s, the events, their tag
-- rows and the NOTIFY — journal_append.sql with the condition as one more guard.
-- Returns the head, the timestamp, the written position, and the conflicting event's
-- key, type and tags (NULL when none).
WITH conflict AS (
    SELECT m.position::text::bigint AS position, m.persistence_id, m.sequence_nr,
           {type_fn}(m.payload) AS type, m.tags
    FROM ({match}) AS m
    LIMIT 1
),
head AS (
    SELECT GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
    ) AS seq
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + e.ord, e.payload, e.tags, clock.ms{metadata_value}
    FROM unnest(%(payloads)s::text[], %(tags_csv)s::text[], %(metas)s::text[])
             WITH ORDINALITY AS e (payload, tags, meta, ord),
         head, clock
    WHERE head.seq = %(expected)s AND NOT EXISTS (SELECT 1 FROM conflict)
    RETURNING sequence_nr, tags, pg_current_xact_id() AS position
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
       c.position, c.persistence_id, c.sequence_nr, c.type, c.tags,
       CASE WHEN head.seq = %(expected)s AND c.position IS NULL AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock LEFT JOIN conflict c ON true
