-- The stream head: the highest sequence number ever written (never rewinds after delete).
SELECT GREATEST(
    COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
    COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
)
