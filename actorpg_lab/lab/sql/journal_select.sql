-- One keyset page of journal_frame, in (persistence_id, sequence_nr) order (the primary key).
-- {where} is journal_where.sql; $after_pid/$after_seq the last (persistence_id, sequence_nr)
-- of the previous page (NULL for the first page); $page_size (NULL = no limit);
-- $range_from/$range_to a persistence_id range [from, to) (NULL = open; a parallel
-- load's halves).
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp"
FROM {events} e
WHERE {where}
  AND ($after_pid::text IS NULL OR (e.persistence_id, e.sequence_nr) > ($after_pid::text, $after_seq::bigint))
  AND ($range_from::text IS NULL OR e.persistence_id >= $range_from::text)
  AND ($range_to::text IS NULL OR e.persistence_id < $range_to::text)
ORDER BY e.persistence_id, e.sequence_nr
LIMIT $page_size::bigint
