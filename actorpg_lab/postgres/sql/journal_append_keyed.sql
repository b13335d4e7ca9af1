-- journal_append.sql with an idempotency key (the multi-event form, arrays in binary;
-- one event: journal_append_one_keyed*.sql): the key is looked up first (prior); the
-- events go in only when the key is new AND the head equals %(expected)s, together with
-- the key's row (one statement, one transaction: both or neither).  A prior row is
-- returned instead (first_seq, events, digest), whatever the head is now: the caller
-- compares digests (same content: the stored events come back; other content:
-- IdempotencyConflictError).  Two identical retries racing both pass the lookup; the
-- later one fails on a primary key (23505) and the caller re-reads the key's row.
-- {head}, {events_rows}, {tag_rows}: the fragments journal_append.sql uses.
WITH prior AS (
    SELECT first_seq, events, digest FROM {idempotency}
    WHERE persistence_id = %(pid)s AND key = %(key)s
),
{head},
guard AS (
    SELECT count(pg_advisory_xact_lock_shared(k)) >= 0 AND NOT EXISTS (SELECT 1 FROM prior) AS ok
    FROM unnest(%(keys)b::bigint[]) AS k
),
{events_rows},
inserted_key AS (
    INSERT INTO {idempotency} (persistence_id, key, first_seq, events, digest)
    SELECT %(pid)s, %(key)s, %(expected)s + 1, %(n)s, %(digest)b::bytea
    WHERE EXISTS (SELECT 1 FROM inserted_events)
),
{tag_rows}
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       prior.first_seq, prior.events, prior.digest,
       CASE WHEN head.seq = %(expected)s AND prior.first_seq IS NULL AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock LEFT JOIN prior ON true
