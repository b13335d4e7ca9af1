-- journal_append.sql for exactly one event, with scalar parameters (no arrays to
-- encode): the head check, the event row, its tag rows and the NOTIFY in one statement
-- (the same {head}, {tag_rows} and {result} fragments).  Rendered once per journal and
-- prepared once per connection.
-- %(k1)s .. %(k4)s: the event's boundary keys (its tags and type, ascending, NULL when
-- unused), locked shared before the row is inserted (postgres/_boundary.py says why).
WITH {head},
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
{tag_rows}
{result}
