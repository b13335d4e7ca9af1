-- journal_append_one_keyed.sql for exactly one UNTAGGED event: the guarded INSERT of
-- the event row in a CTE, the key's row inserted from it, no clock or tag CTEs (the tag
-- table is not opened).  The same outcomes: one row (the event's timestamp and
-- position) when the event went in, NO row when the key was taken or the head was
-- elsewhere.
-- %(k1)s: the event type's boundary key (NULL for plain JSON), locked shared before the
-- row is inserted (postgres/_boundary.py says why).
WITH inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + 1, %(payload)s, '',
           (extract(epoch FROM clock_timestamp()) * 1000)::bigint{metadata_value}
    WHERE GREATEST(
            COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
            COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
          ) = %(expected)s
      AND NOT EXISTS (SELECT FROM {idempotency} WHERE persistence_id = %(pid)s AND key = %(key)s)
      AND (%(k1)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k1)s::bigint) IS NOT NULL)
    RETURNING sequence_nr, timestamp
)
INSERT INTO {idempotency} (persistence_id, key, first_seq, events, digest)
SELECT %(pid)s, %(key)s, i.sequence_nr, 1, %(digest)b::bytea
FROM inserted_events i
RETURNING (SELECT i.timestamp FROM inserted_events i),
          pg_current_xact_id()::text::bigint AS position,  -- = the column default
          CASE WHEN %(notify)s THEN pg_notify(%(channel)s, '') END AS notified
