-- One stream's events in [from_seq, to_seq], ascending.
SELECT sequence_nr, payload, tags, timestamp, position::text::bigint
FROM {events}
WHERE persistence_id = %(pid)s
  AND sequence_nr BETWEEN %(from_seq)s AND %(to_seq)s
ORDER BY sequence_nr
