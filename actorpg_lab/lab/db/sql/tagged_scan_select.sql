-- tag_frame for a filter no tag drives (TagFilter() = every event,
-- TagFilter(not_=[...]) = every event without those tags): the events table itself in
-- (timestamp, persistence_id, sequence_nr) order, one streamed query.  {where} is
-- journal_where.sql (its $tags_not applies not_); {position} the position column;
-- {metadata_ids} the ids in e.metadata (frames/event_columns.py);
-- $row_limit (NULL = no limit).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp", {metadata_ids}
FROM {events} e
WHERE {where}
ORDER BY e."timestamp", e.persistence_id, e.sequence_nr
LIMIT $row_limit::bigint
