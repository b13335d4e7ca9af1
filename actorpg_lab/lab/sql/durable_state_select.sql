-- durable_state_frame: $ids persistence ids (JSON array or NULL), $since..$until time
-- window [since, until) in epoch ms, $page_size (NULL = none).
SELECT d.persistence_id, d.revision, d.payload, d."timestamp"
FROM {table} d
WHERE ($ids::jsonb IS NULL
       OR d.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($ids::jsonb))))
  AND d."timestamp" >= $since::bigint AND d."timestamp" < $until::bigint
ORDER BY d.persistence_id
LIMIT $page_size::bigint
