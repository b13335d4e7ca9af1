-- One keyset page of journal_frame, in (persistence_id, sequence_nr) order (the primary key).
-- {where} is journal_where.sql ($1..$8); $9/$10 the last (persistence_id, sequence_nr) of
-- the previous page (NULL for the first page); $11 the page size (NULL = no limit);
-- $12/$13 a persistence_id range [from, to) (NULL = open; a parallel load's halves).
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e."timestamp"
FROM {events} e
WHERE {where}
  AND ($9::text IS NULL OR (e.persistence_id, e.sequence_nr) > ($9::text, $10::bigint))
  AND ($12::text IS NULL OR e.persistence_id >= $12::text)
  AND ($13::text IS NULL OR e.persistence_id < $13::text)
ORDER BY e.persistence_id, e.sequence_nr
LIMIT $11::bigint
