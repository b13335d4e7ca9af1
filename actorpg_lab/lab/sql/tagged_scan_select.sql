-- One keyset page of tag_frame for a filter no tag drives (TagFilter() = every event,
-- TagFilter(not_=[...]) = every event without those tags): the events table itself in
-- (timestamp, persistence_id, sequence_nr) order, the order of read_by_tag.  {where} is
-- journal_where.sql (its $tags_not applies not_); {position} the position column;
-- $after_ts/$after_pid/$after_seq the last (timestamp, persistence_id, sequence_nr) of
-- the previous page; $page_size.
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp"
FROM {events} e
WHERE {where}
  AND ($after_ts::bigint IS NULL
       OR (e."timestamp", e.persistence_id, e.sequence_nr) > ($after_ts::bigint, $after_pid::text, $after_seq::bigint))
ORDER BY e."timestamp", e.persistence_id, e.sequence_nr
LIMIT $page_size::bigint
