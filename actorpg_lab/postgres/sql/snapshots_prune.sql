-- Keep the newest %(keep_n)s snapshots of a stream; returns what was pruned.
DELETE FROM {snapshots}
WHERE persistence_id = %(pid)s
  AND sequence_nr < (
      SELECT sequence_nr FROM {snapshots}
      WHERE persistence_id = %(pid)s
      ORDER BY sequence_nr DESC
      OFFSET %(keep_n)s - 1 LIMIT 1
  )
RETURNING sequence_nr
