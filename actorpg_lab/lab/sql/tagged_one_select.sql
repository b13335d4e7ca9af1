-- tag_frame driven by ONE tag (a single tag, or the first of TagFilter.all): walk its index in order
-- (tag, timestamp, persistence_id, sequence_nr) — no DISTINCT, no sort — and fetch each
-- event by primary key.  The LATERAL ... OFFSET 0 keeps that a nested loop of index
-- lookups (measured ~30% faster than the hash join the planner picks for a plain join on
-- 1M events / 100k tagged, and a keyset page then reads only its own rows).
-- {where} is journal_where.sql ($1..$8, its tag filters NULL here); $12 the tag;
-- $9/$10/$11 the last (timestamp, persistence_id, sequence_nr) of the previous page;
-- $13 the page size; $14/$15 a tag-timestamp range [from, to) (NULL = open; a
-- parallel load's halves).
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e."timestamp"
FROM {tags} t
CROSS JOIN LATERAL (
    SELECT x.persistence_id, x.sequence_nr, x.payload, x.tags, x."timestamp"
    FROM {events} x
    WHERE x.persistence_id = t.persistence_id AND x.sequence_nr = t.sequence_nr
    OFFSET 0
) e
WHERE t.tag = $12::text
  AND t."timestamp" >= $4::bigint AND t."timestamp" < $5::bigint
  AND {where}
  AND ($9::bigint IS NULL
       OR (t."timestamp", t.persistence_id, t.sequence_nr) > ($9::bigint, $10::text, $11::bigint))
  AND ($14::bigint IS NULL OR t."timestamp" >= $14::bigint)
  AND ($15::bigint IS NULL OR t."timestamp" < $15::bigint)
ORDER BY t."timestamp", t.persistence_id, t.sequence_nr
LIMIT $13::bigint
