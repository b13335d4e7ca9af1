-- Demo only (notebook 02): lose ONE event row and its tag rows, leaving a gap.
WITH gone AS (
    DELETE FROM {tags} WHERE persistence_id = %(pid)s AND sequence_nr = %(seq)s
)
DELETE FROM {events} WHERE persistence_id = %(pid)s AND sequence_nr = %(seq)s
