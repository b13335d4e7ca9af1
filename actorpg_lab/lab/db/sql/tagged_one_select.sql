-- tag_frame driven by ONE tag (a single tag, or the first of TagFilter.all): walk its index in order
-- (tag, timestamp, persistence_id, sequence_nr) — no DISTINCT, no sort — and fetch each
-- event by primary key.  The LATERAL ... OFFSET 0 keeps that a nested loop of index
-- lookups (measured ~30% faster than the hash join the planner picks for a plain join on
-- 1M events / 100k tagged, and a LIMIT then reads only its own rows).
-- {where} is journal_where.sql (its tag filters NULL for a single tag); $tag the tag;
-- $row_limit (NULL = no limit); $range_from/$range_to a tag-timestamp range [from, to)
-- (NULL = open; a parallel load's halves).
-- {metadata_ids}: the ids in x.metadata, as two columns or one list (NULL without;
-- frames/event_columns.py, db/statements.metadata_ids); the outer e.* is the lookup's
-- columns in its order.
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.*
FROM {tags} t
CROSS JOIN LATERAL (
    SELECT x.persistence_id, x.sequence_nr, {position} AS position, x.payload, x.tags, x."timestamp",
           {metadata_ids}
    FROM {events} x
    WHERE x.persistence_id = t.persistence_id AND x.sequence_nr = t.sequence_nr
    OFFSET 0
) e
WHERE t.tag = $tag::text
  AND t."timestamp" >= $since::bigint AND t."timestamp" < $until::bigint
  AND {where}
  AND ($range_from::bigint IS NULL OR t."timestamp" >= $range_from::bigint)
  AND ($range_to::bigint IS NULL OR t."timestamp" < $range_to::bigint)
ORDER BY t."timestamp", t.persistence_id, t.sequence_nr
LIMIT $row_limit::bigint
