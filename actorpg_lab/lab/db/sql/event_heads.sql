-- Replayer: the stored envelope head (type name and version, see event_types_shape.sql)
-- of every typed event of one stream, so the view can show how each was upcast.
-- $1 persistence id.
SELECT e.sequence_nr, left(e.payload, v.at - 1) AS kind
FROM {events} e
     CROSS JOIN LATERAL (SELECT strpos(e.payload, '"$value":') AS at) v
WHERE e.persistence_id = $1
  AND v.at > 0
  AND {type_of_payload} IS NOT NULL
ORDER BY e.sequence_nr
