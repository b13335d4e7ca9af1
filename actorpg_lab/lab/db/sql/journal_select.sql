-- journal_frame, in (persistence_id, sequence_nr) order (the primary key), one streamed query.
-- {where} is journal_where.sql; $row_limit (NULL = no limit); $range_from/$range_to a
-- persistence_id range [from, to) (NULL = open; a parallel load's halves).
-- {correlation_id}/{causation_id}: the ids in e.metadata (NULL without; frames/event_columns.py).
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp", {correlation_id} AS correlation_id,
       {causation_id} AS causation_id
FROM {events} e
WHERE {where}
  AND ($range_from::text IS NULL OR e.persistence_id >= $range_from::text)
  AND ($range_to::text IS NULL OR e.persistence_id < $range_to::text)
ORDER BY e.persistence_id, e.sequence_nr
LIMIT $row_limit::bigint
