-- journal_append_one.sql for exactly one UNTAGGED event: a plain INSERT guarded by the
-- head check, no CTEs (no materialised head/clock scans, the tag table is not opened).
-- Returns one row (the stored timestamp and position) when the head was %(expected)s and the row was
-- inserted (NOTIFY sent with it), and NO row when the head was elsewhere: the caller
-- then re-reads the head for the JournalConcurrencyError.
-- %(k1)s: the event type's boundary key (NULL for plain JSON), locked shared before the
-- row is inserted (postgres/_boundary.py says why).
INSERT INTO {events} (persistence_id, sequence_nr, payload, tags, timestamp)
SELECT %(pid)s, %(expected)s + 1, %(payload)s, '',
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
WHERE GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
      ) = %(expected)s
  AND (%(k1)s::bigint IS NULL OR pg_advisory_xact_lock_shared(%(k1)s::bigint) IS NOT NULL)
RETURNING timestamp,
          pg_current_xact_id()::text::bigint AS position, -- = the column default
          CASE WHEN %(notify)s THEN pg_notify(%(channel)s, '') END AS notified
