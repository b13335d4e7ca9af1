-- How many events tag_frame will load (see tagged_select.sql for the values).
SELECT count(*) AS n
FROM {events} e
JOIN (
    SELECT DISTINCT t.persistence_id, t.sequence_nr
    FROM {tags} t
    WHERE t.tag = ANY (ARRAY(SELECT jsonb_array_elements_text($candidates::jsonb)))
      AND t."timestamp" >= $since::bigint AND t."timestamp" < $until::bigint
) m ON m.persistence_id = e.persistence_id AND m.sequence_nr = e.sequence_nr
WHERE {where}
