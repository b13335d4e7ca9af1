-- journal_frame, in (persistence_id, sequence_nr) order (the primary key), one streamed query.
-- {where} is journal_where.sql; $row_limit (NULL = no limit); $range_from/$range_to a
-- persistence_id range [from, to) (NULL = open; a parallel load's halves).
-- {metadata_ids}: the ids in e.metadata, as two columns or one list (NULL without;
-- frames/event_columns.py, db/statements.metadata_ids).
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp", {metadata_ids}
FROM {events} e
WHERE {where}
  AND ($range_from::text IS NULL OR e.persistence_id >= $range_from::text)
  AND ($range_to::text IS NULL OR e.persistence_id < $range_to::text)
ORDER BY e.persistence_id, e.sequence_nr
LIMIT $row_limit::bigint
