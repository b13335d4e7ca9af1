-- The newest snapshot with sequence_nr < %(below)s.
SELECT sequence_nr, payload, timestamp
FROM {snapshots}
WHERE persistence_id = %(pid)s AND sequence_nr < %(below)s
ORDER BY sequence_nr DESC
LIMIT 1
