-- check_streams, structure part: one row per stream found in the events, meta or
-- snapshots table, with what the gap/compaction/snapshot checks need.
-- live_* count only the rows above the compaction mark (deleted_to): rows at or below it
-- are expected to be gone.
-- $1 persistence ids (JSON array or NULL).
-- The id condition is written on $1 itself (not on a CTE column): bound as a literal, its
-- NULL test folds at plan time and the ids become an index condition (an init plan), so
-- checking a few streams probes them instead of scanning the journal.
WITH meta AS (
    SELECT m.persistence_id, m.deleted_to
    FROM {meta} m
    WHERE $1::jsonb IS NULL
       OR m.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
),
ev AS (
    SELECT e.persistence_id,
           count(*) AS events,
           max(e.sequence_nr) AS last_seq,
           count(*) FILTER (WHERE e.sequence_nr > coalesce(m.deleted_to, 0)) AS live_rows,
           min(e.sequence_nr) FILTER (WHERE e.sequence_nr > coalesce(m.deleted_to, 0))
               AS live_first
    FROM {events} e
    LEFT JOIN meta m ON m.persistence_id = e.persistence_id
    WHERE $1::jsonb IS NULL
       OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
    GROUP BY e.persistence_id
),
snaps AS (
    SELECT s.persistence_id, max(s.sequence_nr) AS latest_snapshot_seq
    FROM {snapshots} s
    WHERE $1::jsonb IS NULL
       OR s.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
    GROUP BY s.persistence_id
)
SELECT coalesce(ev.persistence_id, meta.persistence_id, snaps.persistence_id) AS persistence_id,
       coalesce(ev.events, 0) AS events,
       coalesce(ev.last_seq, 0) AS last_seq,
       coalesce(ev.live_rows, 0) AS live_rows,
       ev.live_first,
       coalesce(meta.deleted_to, 0) AS deleted_to,
       snaps.latest_snapshot_seq
FROM ev
FULL JOIN meta ON meta.persistence_id = ev.persistence_id
FULL JOIN snaps ON snaps.persistence_id = coalesce(ev.persistence_id, meta.persistence_id)
ORDER BY 1
