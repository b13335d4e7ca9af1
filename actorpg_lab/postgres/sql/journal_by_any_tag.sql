-- Events carrying at least one tag of %(any)s (and none of %(not)s): per tag, the
-- first %(limit)s matching events in position order from the tag table's ordering
-- index, merged and deduplicated (an event with two of the tags appears twice); the
-- first %(limit)s of the union are the first %(limit)s overall.
SELECT DISTINCT ON (m.position, m.persistence_id, m.sequence_nr)
       m.persistence_id, m.sequence_nr, m.payload, m.tags, m.timestamp,
       m.position::text::bigint, m.metadata
FROM unnest(%(any)s::text[]) AS a (tag)
CROSS JOIN LATERAL (
    SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp, t.position,
           {metadata} AS metadata
    FROM {tags} t
    JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
    WHERE t.tag = a.tag
      AND (t.position, t.persistence_id, t.sequence_nr)
          > (%(position)s::text::xid8, %(pid)s::text, %(seq)s::bigint)
      AND t.position < pg_snapshot_xmin(pg_current_snapshot())
      AND e.timestamp >= %(from_ts)s
      AND (cardinality(%(not)s::text[]) = 0
           OR NOT string_to_array(e.tags, ',') && %(not)s::text[])
    ORDER BY t.position, t.persistence_id, t.sequence_nr
    LIMIT %(limit)s
) m
ORDER BY m.position, m.persistence_id, m.sequence_nr
LIMIT %(limit)s
