-- event_types_frame: one payload of a group (kind, fields) from one stream.
-- $1 persistence id, $2 kind, $3 the fields as a JSON array in stored order (NULL: none).
-- {shape}: event_types_shape.sql with {rows} = "e.persistence_id = $1" (inside its
-- OFFSET 0 fences, where the primary key can serve it).
SELECT e.payload
FROM {shape}
WHERE e.kind = $2
  AND CASE WHEN $3::jsonb IS NULL THEN e.fields IS NULL
           ELSE e.fields = ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) END
ORDER BY e.sequence_nr
LIMIT 1
