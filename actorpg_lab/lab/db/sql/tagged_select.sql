-- tag_frame of an any-only filter in (timestamp, persistence_id, sequence_nr) order, one
-- streamed query.  The tag index narrows the candidates ($candidates: every tag that can
-- match, a JSON array); {where} (journal_where.sql) applies the exact all/any/not_ rules.
-- $row_limit (NULL = no limit).  (Only the single-tag shape is split in halves.)
-- {metadata_ids}: the ids in e.metadata, as two columns or one list (NULL without;
-- frames/event_columns.py, db/statements.metadata_ids).
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp", {metadata_ids}
FROM {events} e
JOIN (
    SELECT DISTINCT t.persistence_id, t.sequence_nr
    FROM {tags} t
    WHERE t.tag = ANY (ARRAY(SELECT jsonb_array_elements_text($candidates::jsonb)))
      AND t."timestamp" >= $since::bigint AND t."timestamp" < $until::bigint
) m ON m.persistence_id = e.persistence_id AND m.sequence_nr = e.sequence_nr
WHERE {where}
ORDER BY e."timestamp", e.persistence_id, e.sequence_nr
LIMIT $row_limit::bigint
