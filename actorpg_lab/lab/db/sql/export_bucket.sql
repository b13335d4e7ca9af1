-- export_parquet: the events of ONE hash bucket's streams, stream after stream, each
-- read by its primary key in sequence order: a nested loop over $bucket (a JSON array of
-- persistence ids in the server's persistence_id order, from journal_streams.sql) with an
-- index range scan per stream — no sort, no scan of the other buckets' rows.
-- (OFFSET 0 keeps the per-stream subquery a nested loop; the rows leave it in the order
-- of the array, then of sequence_nr.)  Same columns as journal_select.sql; {where} is
-- journal_where.sql ($ids NULL here: the bucket is the id list).
-- {correlation_id}/{causation_id}: the ids in e.metadata (NULL without; frames/event_columns.py).
-- {position}: the event's commit-ordered position as bigint (or 0 on a table without it;
-- _sql.position_column).
SELECT e.persistence_id, e.sequence_nr, e.position, e.payload, e.tags, e."timestamp",
       e.correlation_id, e.causation_id
FROM jsonb_array_elements_text($bucket::jsonb) WITH ORDINALITY AS w (id, ord)
CROSS JOIN LATERAL (
    SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp",
           {correlation_id} AS correlation_id, {causation_id} AS causation_id
    FROM {events} e
    WHERE e.persistence_id = w.id
      AND {where}
    ORDER BY e.sequence_nr
    OFFSET 0
) e
