-- event_types.sql's events (the {rows} of event_types_shape.sql): $1 persistence ids
-- (JSON array or NULL: every stream), $2/$3 a persistence_id range [from, to) (NULL = open).
    ($1::jsonb IS NULL OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
AND ($2::text IS NULL OR e.persistence_id >= $2::text)
AND ($3::text IS NULL OR e.persistence_id < $3::text)
