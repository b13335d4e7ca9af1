-- Record pruned snapshots (see write_history_pruned_schema.sql); arrays of equal length.
INSERT INTO {pruned} (persistence_id, sequence_nr, saved_at, pruned_at, writer)
SELECT %(pid)s, p.sequence_nr, p.saved_at, %(pruned_at)s, %(writer)s
FROM unnest(%(seqs)s::bigint[], %(saved)s::bigint[]) AS p (sequence_nr, saved_at)
ON CONFLICT DO NOTHING
