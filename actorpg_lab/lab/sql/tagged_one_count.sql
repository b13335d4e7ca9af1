-- How many events tag_frame loads for ONE tag ($9; see tagged_one_select.sql).
SELECT count(*) AS n
FROM {tags} t
JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
WHERE t.tag = $9::text
  AND t."timestamp" >= $4::bigint AND t."timestamp" < $5::bigint
  AND {where}
