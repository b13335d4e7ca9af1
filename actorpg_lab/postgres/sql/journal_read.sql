-- One stream's events in [from_seq, to_seq], ascending.
-- {position} is position::text::bigint, or 0 on a journal not migrated to positions yet;
-- {metadata} the metadata column (JSON text, NULL for events without), or NULL on a journal
-- not migrated to metadata yet.
SELECT sequence_nr, payload, tags, timestamp, {position}, {metadata}
FROM {events}
WHERE persistence_id = %(pid)s
  AND sequence_nr BETWEEN %(from_seq)s AND %(to_seq)s
ORDER BY sequence_nr
