-- A conditional append, run right after journal_lock_boundary.sql in one transaction
-- (so this statement's snapshot is taken after every boundary lock is held): the first
-- event matching the condition's query that the decision did not see (journal_match.sql)
-- and, only when there is none and the head equals %(expected)s, the events, their tag
-- rows and the NOTIFY — journal_append.sql (its {head}, {events_rows} and {tag_rows}
-- fragments) with the condition as the guard.
-- Returns the head, the timestamp, the written position, and the conflicting event's
-- key, type and tags (NULL when none).
WITH conflict AS (
    SELECT m.position::text::bigint AS position, m.persistence_id, m.sequence_nr,
           {type_fn}(m.payload) AS type, m.tags
    FROM ({match}) AS m
    LIMIT 1
),
{head},
guard AS (
    SELECT NOT EXISTS (SELECT 1 FROM conflict) AS ok
),
{events_rows},
{tag_rows}
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       c.position, c.persistence_id, c.sequence_nr, c.type, c.tags,
       CASE WHEN head.seq = %(expected)s AND c.position IS NULL AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock LEFT JOIN conflict c ON true
