-- conflicts_frame: the rejected writes a store recorded in {conflicts} (log_conflicts=True).
-- $1 persistence ids (JSON array or NULL).
WITH wanted AS (
    SELECT CASE WHEN $1::jsonb IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text($1::jsonb)) END AS ids
)
SELECT c.persistence_id, c.expected, c.actual, c.writer, c."timestamp"
FROM {conflicts} c, wanted w
WHERE w.ids IS NULL OR c.persistence_id = ANY (w.ids)
ORDER BY c."timestamp", c.persistence_id, c.id
