-- durable_state_frame: $1 persistence ids (JSON array or NULL), $2..$3 time window
-- [from, until) in epoch ms, $4 limit (NULL = none).
SELECT d.persistence_id, d.revision, d.payload, d."timestamp"
FROM {table} d
WHERE ($1::jsonb IS NULL
       OR d.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
  AND d."timestamp" >= $2::bigint AND d."timestamp" < $3::bigint
ORDER BY d.persistence_id
LIMIT $4::bigint
