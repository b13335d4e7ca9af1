-- One keyset page of tag_frame in (timestamp, persistence_id, sequence_nr) order, the order
-- of read_by_tag.  The tag index narrows the candidates ($12: every tag that can match, a
-- JSON array); {where} (journal_where.sql, $1..$8) applies the exact all/any/not_ rules.
-- $9/$10/$11 the last (timestamp, persistence_id, sequence_nr) of the previous page.
-- $13 the page size.  ($14/$15, the halves of a parallel load, are not used: only the
-- single-tag shape is split.)
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e."timestamp"
FROM {events} e
JOIN (
    SELECT DISTINCT t.persistence_id, t.sequence_nr
    FROM {tags} t
    WHERE t.tag = ANY (ARRAY(SELECT jsonb_array_elements_text($12::jsonb)))
      AND t."timestamp" >= $4::bigint AND t."timestamp" < $5::bigint
) m ON m.persistence_id = e.persistence_id AND m.sequence_nr = e.sequence_nr
WHERE {where}
  AND ($9::bigint IS NULL
       OR (e."timestamp", e.persistence_id, e.sequence_nr) > ($9::bigint, $10::text, $11::bigint))
ORDER BY e."timestamp", e.persistence_id, e.sequence_nr
LIMIT $13::bigint
