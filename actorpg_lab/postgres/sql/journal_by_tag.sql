-- Events matching a TagFilter with all= tags, driven by the tag table's ordering index
-- on the first of them (%(tag)s); the rest of the filter is checked on the events
-- table's CSV tag mirror.  Only positions below the visibility horizon are read: every
-- transaction that could still add a row there has ended, so what this returns can
-- never be preceded later by a late commit (see actorpg_lab.query).
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp,
       e.position::text::bigint, {metadata}
FROM {tags} t
JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
WHERE t.tag = %(tag)s
  AND (t.position, t.persistence_id, t.sequence_nr)
      > (%(position)s::text::xid8, %(pid)s::text, %(seq)s::bigint)
  AND t.position < pg_snapshot_xmin(pg_current_snapshot())
  AND e.timestamp >= %(from_ts)s  -- on e: keeps the planner off the (tag, timestamp) key
  AND (cardinality(%(all)s::text[]) <= 1 OR string_to_array(e.tags, ',') @> %(all)s::text[])
  AND (cardinality(%(any)s::text[]) = 0 OR string_to_array(e.tags, ',') && %(any)s::text[])
  AND (cardinality(%(not)s::text[]) = 0 OR NOT string_to_array(e.tags, ',') && %(not)s::text[])
ORDER BY t.position, t.persistence_id, t.sequence_nr
LIMIT %(limit)s
