-- wb.trace: the events of one correlation ($1) across streams, in position order (the
-- columns of journal_select.sql).  Reads the metadata column of every event: a full scan
-- (an index on the expression is the DBA's choice for large journals).
SELECT e.persistence_id, e.sequence_nr, {position} AS position, e.payload, e.tags, e."timestamp",
       {correlation_id} AS correlation_id,
       {causation_id} AS causation_id
FROM {events} e
WHERE e.metadata IS NOT NULL AND {correlation_id} = $1::text
ORDER BY e.position, e.persistence_id, e.sequence_nr
