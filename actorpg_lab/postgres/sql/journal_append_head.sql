-- Fragment of the append statements (journal_append*.sql fill it in as {head}): the
-- stream's head (the highest sequence number, or the compaction mark when higher) and
-- the timestamp every row of the append gets.
head AS (
    SELECT GREATEST(
        COALESCE((SELECT max(sequence_nr) FROM {events} WHERE persistence_id = %(pid)s), 0),
        COALESCE((SELECT deleted_to FROM {meta} WHERE persistence_id = %(pid)s), 0)
    ) AS seq
),
clock AS (
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms
)
