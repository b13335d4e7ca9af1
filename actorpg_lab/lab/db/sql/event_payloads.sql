-- decode_check / compare_replays: every event of the selected streams in stream order
-- (the primary key's order), payload as stored; the caller decodes each payload.
-- $1 persistence ids (JSON array or NULL).
SELECT e.persistence_id, e.sequence_nr, e.payload
FROM {events} e
WHERE $1::jsonb IS NULL
   OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
ORDER BY e.persistence_id, e.sequence_nr
