-- wb.explore(): one page of a stream's events (%(from_seq)s up, at most %(n)s), raw: the
-- payload as stored (pretty-printed by the view), its type, tags, time and metadata.
SELECT e.sequence_nr, e."timestamp", e.position::text AS position, e.tags, e.payload,
       {type_expr} AS event_type, {metadata} AS metadata
FROM {events} e
WHERE e.persistence_id = %(pid)s::text AND e.sequence_nr >= %(from_seq)s::bigint
ORDER BY e.sequence_nr
LIMIT %(n)s
