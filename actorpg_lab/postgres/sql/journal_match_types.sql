-- DCB query branch (see journal_match.sql): events whose type is one of %(yo_name)s.
SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp,
       {metadata} AS metadata
FROM {events} e
WHERE {type_fn}(e.payload) = ANY (%(yo_name)s::text[]) AND e.position >= %(lo)s::text::xid8
  AND {after}
