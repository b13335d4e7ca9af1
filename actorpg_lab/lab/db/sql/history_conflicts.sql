-- conflicts_frame: the rejected writes a store recorded in {conflicts} (log_conflicts=True).
-- $1 persistence ids (JSON array or NULL).  The condition columns (kind, query, the
-- conflicting event's key) are read through to_jsonb so a table that predates them
-- reads them as NULL (a head conflict).
WITH wanted AS (
    SELECT CASE WHEN $1::jsonb IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text($1::jsonb)) END AS ids
)
SELECT c.persistence_id, c.expected, c.actual, c.writer, c."timestamp",
       coalesce(j.row ->> 'kind', 'head') AS kind,
       (j.row ->> 'conflict_position')::bigint AS conflict_position,
       j.row ->> 'conflict_pid' AS conflict_pid,
       (j.row ->> 'conflict_seq')::bigint AS conflict_seq,
       j.row ->> 'query' AS query
FROM {conflicts} c CROSS JOIN LATERAL (SELECT to_jsonb(c) AS row) j, wanted w
WHERE w.ids IS NULL OR c.persistence_id = ANY (w.ids)
ORDER BY c."timestamp", c.persistence_id, c.id
