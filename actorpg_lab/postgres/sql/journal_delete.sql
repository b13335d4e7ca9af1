-- Delete a stream prefix (tag rows and events) and raise the high-water mark,
-- all in one statement.  The mark never exceeds the head and never goes down.
WITH head AS (
    SELECT GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
    ) AS seq
),
mark AS (
    SELECT LEAST(%(to_seq)s::bigint, head.seq) AS seq FROM head
),
deleted_tags AS (
    DELETE FROM {tags}
    WHERE persistence_id = %(pid)s AND sequence_nr <= (SELECT seq FROM mark)
),
deleted_events AS (
    DELETE FROM {events}
    WHERE persistence_id = %(pid)s AND sequence_nr <= (SELECT seq FROM mark)
)
INSERT INTO {meta} AS m (persistence_id, deleted_to)
SELECT %(pid)s, mark.seq FROM mark WHERE mark.seq > 0
ON CONFLICT (persistence_id)
DO UPDATE SET deleted_to = GREATEST(m.deleted_to, EXCLUDED.deleted_to)
