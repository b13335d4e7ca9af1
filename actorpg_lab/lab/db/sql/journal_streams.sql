-- The streams of the events table with their sizes, at O(streams) cost: a loose index
-- scan of the primary key (each recursive step asks the index for the first id after the
-- previous one: one descent per stream), then per stream its first and last event by
-- primary key.  events = last - first + 1 (exact for a contiguous stream, the journal's
-- contract).  In persistence_id order (the server's collation, as the loaders' ranges).
-- $ids persistence ids (a text[] literal, as every loader statement; NULL = every stream).
WITH RECURSIVE event_ids AS (
    (SELECT e.persistence_id
     FROM {events} e
     WHERE $ids::text[] IS NULL
     ORDER BY e.persistence_id
     LIMIT 1)
    UNION ALL
    SELECT (SELECT e.persistence_id
            FROM {events} e
            WHERE e.persistence_id > i.persistence_id
            ORDER BY e.persistence_id
            LIMIT 1)
    FROM event_ids i
    WHERE i.persistence_id IS NOT NULL
),
ids AS (
    SELECT i.persistence_id FROM event_ids i WHERE i.persistence_id IS NOT NULL
    UNION
    SELECT w.id FROM unnest($ids::text[]) AS w (id)
)
SELECT i.persistence_id, l.last_seq - f.first_seq + 1 AS events
FROM ids i
CROSS JOIN LATERAL (
    SELECT e.sequence_nr AS first_seq
    FROM {events} e
    WHERE e.persistence_id = i.persistence_id
    ORDER BY e.sequence_nr
    LIMIT 1
) f
CROSS JOIN LATERAL (
    SELECT e.sequence_nr AS last_seq
    FROM {events} e
    WHERE e.persistence_id = i.persistence_id
    ORDER BY e.sequence_nr DESC
    LIMIT 1
) l
ORDER BY i.persistence_id
