-- journal_append.sql with an idempotency key: the key is looked up first (prior); the
-- events go in only when the key is new AND the head equals %(expected)s, together with
-- the key's row (one statement, one transaction: both or neither).  A prior row is
-- returned instead (first_seq, events, digest), whatever the head is now: the caller
-- compares digests (same content: the stored events come back; other content:
-- IdempotencyConflictError).  Two identical retries racing both pass the lookup; the
-- later one fails on a primary key (23505) and the caller re-reads the key's row.
WITH prior AS (
    SELECT first_seq, events, digest FROM {idempotency}
    WHERE persistence_id = %(pid)s AND key = %(key)s
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
locks AS (
    SELECT count(pg_advisory_xact_lock_shared(k)) AS n FROM unnest(%(keys)b::bigint[]) AS k
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + e.ord, e.payload, e.tags, clock.ms{metadata_value}
    FROM unnest(%(payloads)b::text[], %(tags_csv)b::text[], %(metas)b::text[])
             WITH ORDINALITY AS e (payload, tags, meta, ord),
         head, clock, locks
    WHERE head.seq = %(expected)s AND locks.n >= 0 AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING sequence_nr, tags, pg_current_xact_id() AS position
),
inserted_key AS (
    INSERT INTO {idempotency} (persistence_id, key, first_seq, events, digest)
    SELECT %(pid)s, %(key)s, %(expected)s + 1, %(n)s, %(digest)s
    WHERE EXISTS (SELECT 1 FROM inserted_events)
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
       prior.first_seq, prior.events, prior.digest,
       CASE WHEN head.seq = %(expected)s AND prior.first_seq IS NULL AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock LEFT JOIN prior ON true
