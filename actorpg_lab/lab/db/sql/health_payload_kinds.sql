-- check_streams, payload part: the payloads grouped by their envelope head (the text
-- before "$value": type name and version of a codec-encoded dataclass; '' for plain
-- JSON), with a stream to take a sample from and how many payloads are not JSON at all.
-- Few groups, one parallel scan: the caller decodes one sample per group.
-- $1 persistence ids (JSON array or NULL).  {not_json}: a predicate on e.payload.
-- (The id condition is on $1 itself: see health_streams.sql.)
SELECT CASE WHEN {type_of_payload} IS NOT NULL THEN split_part(e.payload, '"$value"', 1)
            ELSE '' END AS kind,
       count(*) AS events,
       min(e.persistence_id) AS sample_id,
       count(*) FILTER (WHERE {not_json}) AS not_json
FROM {events} e
WHERE $1::jsonb IS NULL
   OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
GROUP BY 1
ORDER BY 1
