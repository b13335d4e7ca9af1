-- snapshots_frame: $ids persistence ids (a text[] literal or NULL), $from_seq..$to_seq sequence
-- range, $since..$until time window [since, until) in epoch ms, $row_limit (NULL = none).
SELECT s.persistence_id, s.sequence_nr, s.payload, s."timestamp"
FROM {table} s
WHERE ($ids::text[] IS NULL OR s.persistence_id = ANY ($ids::text[]))
  AND s.sequence_nr >= $from_seq::bigint AND s.sequence_nr <= $to_seq::bigint
  AND s."timestamp" >= $since::bigint AND s."timestamp" < $until::bigint
ORDER BY s.persistence_id, s.sequence_nr
LIMIT $row_limit::bigint
