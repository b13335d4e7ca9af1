-- Demo only (notebook 02): lose ONE event row and its tag rows, leaving a gap.
WITH gone AS (
    DELETE FROM {tags} WHERE persistence_id = $pid AND sequence_nr = $seq
)
DELETE FROM {events} WHERE persistence_id = $pid AND sequence_nr = $seq
