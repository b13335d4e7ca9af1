-- How many events tag_frame will load (see tagged_select.sql for the parameters).
SELECT count(*) AS n
FROM {events} e
JOIN (
    SELECT DISTINCT t.persistence_id, t.sequence_nr
    FROM {tags} t
    WHERE t.tag = ANY (ARRAY(SELECT jsonb_array_elements_text($9::jsonb)))
      AND t."timestamp" >= $4::bigint AND t."timestamp" < $5::bigint
) m ON m.persistence_id = e.persistence_id AND m.sequence_nr = e.sequence_nr
WHERE {where}
