-- pruned_frame: the snapshots a store pruned, recorded in {pruned} (log_pruning=True).
-- $1 persistence ids (JSON array or NULL).
WITH wanted AS (
    SELECT CASE WHEN $1::jsonb IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text($1::jsonb)) END AS ids
)
SELECT p.persistence_id, p.sequence_nr, p.saved_at, p.pruned_at, p.writer
FROM {pruned} p, wanted w
WHERE w.ids IS NULL OR p.persistence_id = ANY (w.ids)
ORDER BY p.pruned_at, p.persistence_id, p.sequence_nr
