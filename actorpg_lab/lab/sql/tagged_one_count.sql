-- How many events tag_frame loads for ONE tag ($tag; same shape as tagged_one_select.sql).
SELECT count(*) AS n
FROM {tags} t
CROSS JOIN LATERAL (
    SELECT x.persistence_id, x.sequence_nr, x.tags, x."timestamp"
    FROM {events} x
    WHERE x.persistence_id = t.persistence_id AND x.sequence_nr = t.sequence_nr
    OFFSET 0
) e
WHERE t.tag = $tag::text
  AND t."timestamp" >= $since::bigint AND t."timestamp" < $until::bigint
  AND {where}
