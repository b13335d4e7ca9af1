-- check_streams: the first payload of one envelope head (kind) in one stream.
-- $1 persistence id, $2 kind (see health_payload_kinds.sql).
SELECT e.sequence_nr, e.payload
FROM {events} e
WHERE e.persistence_id = $1
  AND CASE WHEN {type_of_payload} IS NOT NULL THEN split_part(e.payload, '"$value"', 1)
           ELSE '' END = $2
ORDER BY e.sequence_nr
LIMIT 1
