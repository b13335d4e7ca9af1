-- durable_state_frame: $ids persistence ids (a text[] literal or NULL), $since..$until time
-- window [since, until) in epoch ms, $row_limit (NULL = none).
SELECT d.persistence_id, d.revision, d.payload, d."timestamp"
FROM {table} d
WHERE ($ids::text[] IS NULL OR d.persistence_id = ANY ($ids::text[]))
  AND d."timestamp" >= $since::bigint AND d."timestamp" < $until::bigint
ORDER BY d.persistence_id
LIMIT $row_limit::bigint
