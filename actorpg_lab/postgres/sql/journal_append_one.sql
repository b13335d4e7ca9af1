-- journal_append.sql for exactly one event, with scalar parameters (no arrays to
-- encode): the head check, the event row, its tag rows and the NOTIFY in one statement.
-- %(k1)s .. %(k4)s: the event's boundary keys (its tags and type, ascending, NULL when
-- unused), locked shared before the row is inserted (postgres/_boundary.py says why).
WITH head AS (
    SELECT GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
    ) AS seq
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp)
    SELECT %(pid)s, %(expected)s + 1, %(payload)s, %(tags_csv)s, clock.ms
    FROM head, clock
    WHERE head.seq = %(expected)s
      AND (%(k1)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k1)s::bigint) IS NOT NULL)
      AND (%(k2)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k2)s::bigint) IS NOT NULL)
      AND (%(k3)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k3)s::bigint) IS NOT NULL)
      AND (%(k4)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k4)s::bigint) IS NOT NULL)
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
