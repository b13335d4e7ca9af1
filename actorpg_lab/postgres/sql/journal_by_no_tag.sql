-- Every event without any tag of %(not)s (the empty filter when %(not)s is empty),
-- driven by the events table's ordering index; below the visibility horizon only.
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp,
       e.position::text::bigint, {metadata}
FROM {events} e
WHERE (e.position, e.persistence_id, e.sequence_nr)
      > (%(position)s::text::xid8, %(pid)s::text, %(seq)s::bigint)
  AND e.position < pg_snapshot_xmin(pg_current_snapshot())
  AND e.timestamp >= %(from_ts)s
  AND (cardinality(%(not)s::text[]) = 0 OR NOT string_to_array(e.tags, ',') && %(not)s::text[])
ORDER BY e.position, e.persistence_id, e.sequence_nr
LIMIT %(limit)s
