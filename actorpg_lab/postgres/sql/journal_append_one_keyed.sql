-- journal_append_keyed.sql for exactly one event, with scalar parameters (no arrays to
-- encode; rendered once per journal, prepared once per connection): ONE guarded INSERT
-- of the event row, inserted only when the head equals %(expected)s AND the key is new,
-- the key's row inserted with it (one statement, one transaction: both or neither), its
-- tag rows ({tag_rows}) and the NOTIFY.  Returns one row (the stored timestamp and
-- position) when the event went in, and NO row otherwise: the key taken, or the head
-- elsewhere.  The caller then looks the key up (journal_idempotency_hit.sql): its row
-- (same content: the stored events come back; other content: IdempotencyConflictError)
-- or none (the head moved: a JournalConcurrencyError).  Two identical retries racing
-- both pass the lookup; the later one fails on the primary key of the event row (23505)
-- and the caller looks the key up the same way.
-- %(k1)s .. %(k4)s: the event's boundary keys (its tags and type, ascending, NULL when
-- unused), locked shared before the row is inserted (postgres/_boundary.py says why).
-- %(meta)s: the event's metadata as JSON text or NULL ({metadata_value}: left out on a
-- journal without the column).
WITH clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
),
inserted_events AS (
    INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp{metadata_column})
    SELECT %(pid)s, %(expected)s + 1, %(payload)s, %(tags_csv)s, clock.ms{metadata_value}
    FROM clock
    WHERE GREATEST(
            COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
            COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
          ) = %(expected)s
      AND NOT EXISTS (SELECT FROM {idempotency} WHERE persistence_id = %(pid)s AND key = %(key)s)
      AND (%(k1)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k1)s::bigint) IS NOT NULL)
      AND (%(k2)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k2)s::bigint) IS NOT NULL)
      AND (%(k3)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k3)s::bigint) IS NOT NULL)
      AND (%(k4)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k4)s::bigint) IS NOT NULL)
    RETURNING sequence_nr, tags, timestamp, pg_current_xact_id() AS position  -- = the column default
),
inserted_key AS (
    INSERT INTO {idempotency} (persistence_id, key, first_seq, events, digest)
    SELECT %(pid)s, %(key)s, i.sequence_nr, 1, %(digest)b::bytea
    FROM inserted_events i
),
{tag_rows}
SELECT i.timestamp,
       i.position::text::bigint AS position,
       CASE WHEN %(notify)s THEN pg_notify(%(channel)s, '') END AS notified
FROM inserted_events i
