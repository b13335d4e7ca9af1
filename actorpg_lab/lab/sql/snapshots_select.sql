-- snapshots_frame: $1 persistence ids (JSON array or NULL), $2..$3 sequence range,
-- $4..$5 time window [from, until) in epoch ms, $6 limit (NULL = none).
SELECT s.persistence_id, s.sequence_nr, s.payload, s."timestamp"
FROM {snapshots} s
WHERE ($1::jsonb IS NULL
       OR s.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
  AND s.sequence_nr >= $2::bigint AND s.sequence_nr <= $3::bigint
  AND s."timestamp" >= $4::bigint AND s."timestamp" < $5::bigint
ORDER BY s.persistence_id, s.sequence_nr
LIMIT $6::bigint
