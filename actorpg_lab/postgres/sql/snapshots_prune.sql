-- Keep the newest %(keep_n)s snapshots of a stream; returns what was pruned (and when it
-- had been saved, for the opt-in pruning history).
DELETE FROM {snapshots}
WHERE persistence_id = %(pid)s
  AND sequence_nr < (
      SELECT sequence_nr FROM {snapshots}
      WHERE persistence_id = %(pid)s
      ORDER BY sequence_nr DESC
      OFFSET %(keep_n)s - 1 LIMIT 1
  )
RETURNING sequence_nr, timestamp
