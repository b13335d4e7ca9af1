-- Head check and inserts in ONE statement: one round trip, one transaction.
-- Nothing is inserted unless the head equals %(expected)s.  A racing writer that
-- passes the same check blocks on the primary key and then fails with 23505.
-- The shared parts are fragments ({head}: journal_append_head.sql, {events_rows}:
-- journal_append_events.sql, {tag_rows}: journal_append_tag_rows.sql, {result}:
-- journal_append_result.sql), filled in once when the journal renders its statements.
-- guard: %(keys)s, the boundary keys of the events' tags and types (distinct,
-- ascending), locked shared before any row is inserted (postgres/_boundary.py says why).
WITH {head},
guard AS (
    SELECT count(pg_advisory_xact_lock_shared(k)) >= 0 AS ok
    FROM unnest(%(keys)b::bigint[]) AS k
),
{events_rows},
{tag_rows}
{result}
