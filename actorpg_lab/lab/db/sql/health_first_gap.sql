-- check_streams: the first missing sequence number above the compaction mark, for the
-- streams the structure query flagged (few).  lag() defaults to the mark, so a missing
-- first live row is found too.
-- $1 persistence ids (JSON array, not NULL).
WITH live AS (
    SELECT e.persistence_id, e.sequence_nr,
           lag(e.sequence_nr, 1, coalesce(m.deleted_to, 0))
               OVER (PARTITION BY e.persistence_id ORDER BY e.sequence_nr) AS previous
    FROM {events} e
    LEFT JOIN {meta} m ON m.persistence_id = e.persistence_id
    WHERE e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
      AND e.sequence_nr > coalesce(m.deleted_to, 0)
)
SELECT persistence_id, min(previous + 1) AS first_missing, count(*) AS holes
FROM live
WHERE sequence_nr <> previous + 1
GROUP BY persistence_id
ORDER BY 1
