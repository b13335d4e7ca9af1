-- check_streams: per stream, the first event whose envelope head is one of the kinds the
-- current code cannot decode, or whose payload is not JSON.
-- $1 persistence ids (JSON array or NULL), $2 bad kinds (JSON array).
-- {not_json}: a predicate on e.payload.
-- (The id condition is on $1 itself: see health_streams.sql.)
SELECT e.persistence_id, min(e.sequence_nr) AS sequence_nr
FROM {events} e
WHERE ($1::jsonb IS NULL
       OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
  AND (({type_of_payload} IS NOT NULL
        AND split_part(e.payload, '"$value"', 1)
            = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))
       OR {not_json})
GROUP BY e.persistence_id
ORDER BY 1
