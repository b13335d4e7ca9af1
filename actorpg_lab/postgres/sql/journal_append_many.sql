-- Several appends to DIFFERENT streams in one statement (one round trip, one commit):
-- the journal coalesces appends that arrive while earlier ones are in flight.
-- Each request r (1-based %(idxs)s / %(expecteds)s / %(pids)s) is checked against its
-- own head; only requests whose head matches insert their events (event k of request r
-- is the row with idx = r, ord = k).  Returns every request's head, so the caller can
-- raise JournalConcurrencyError for exactly the requests that lost.  A racing writer on
-- any of the streams makes the whole statement fail with 23505; the caller then
-- retries every request on its own.  %(keys)s: the boundary keys of every event's tags
-- and type (distinct, ascending), locked shared before any row is inserted
-- (postgres/_boundary.py says why).
WITH req AS (
    SELECT r.idx, r.pid, r.expected
    FROM unnest(%(pids)b::text[], %(expecteds)b::bigint[]) WITH ORDINALITY AS r (pid, expected, idx)
),
head AS (
    SELECT req.idx, req.pid, req.expected, GREATEST(
        COALESCE((SELECT max(e.sequence_nr) FROM {events} e WHERE e.persistence_id = req.pid), 0),
        COALESCE((SELECT m.deleted_to FROM {meta} m WHERE m.persistence_id = req.pid), 0)
    ) AS seq
    FROM req
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
locks AS (
    SELECT count(pg_advisory_xact_lock_shared(k)) AS n FROM unnest(%(keys)b::bigint[]) AS k
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT head.pid, head.expected + ev.ord, ev.payload, ev.tags, clock.ms{metadata_value}
    FROM unnest(%(idxs)b::bigint[], %(ords)b::bigint[], %(payloads)b::text[], %(tags_csv)b::text[],
                %(metas)b::text[])
             AS ev (idx, ord, payload, tags, meta)
         JOIN head ON head.idx = ev.idx AND head.seq = head.expected,
         clock, locks
    WHERE locks.n >= 0
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
    SELECT CASE WHEN %(notify)s AND EXISTS (SELECT 1 FROM head WHERE head.seq = head.expected)
                THEN pg_notify(%(channel)s, '') END AS sent
)
SELECT head.idx, head.seq AS head, clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position, notified.sent
FROM head, clock, notified
ORDER BY head.idx
