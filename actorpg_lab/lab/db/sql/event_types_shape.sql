-- event_types_frame / event_types_sample: the events with their kind and field names, a
-- FROM clause.  kind: the envelope head (the text before "$value": type name and
-- version of a codec-encoded dataclass), '' for plain JSON.  fields: the keys of the
-- "$value" object (of a plain object; '{}' for other JSON values), in stored order; NULL
-- when they cannot be read (not JSON, or not an envelope the codec wrote).  OFFSET 0
-- keeps the per-row parse in one place: each payload is parsed once.
-- {inner_is_object}: "v.inner is a JSON object"; {payload_is_object}: "e.payload is a
-- JSON object"; {payload_not_json}: "e.payload is not JSON" (IS JSON on PostgreSQL 16+).
{events} e
CROSS JOIN LATERAL (
    SELECT s.at, s.at > 0 AND {type_of_payload} IS NOT NULL AS envelope,
           left(substr(e.payload, s.at + 9), -1) AS inner
    FROM (SELECT strpos(e.payload, '"$value":') AS at) s
) v
CROSS JOIN LATERAL (
    SELECT CASE WHEN v.envelope THEN left(e.payload, v.at - 1) ELSE '' END AS kind,
           CASE WHEN v.envelope THEN
                    CASE WHEN {inner_is_object}
                         THEN ARRAY(SELECT json_object_keys(v.inner::json)) END
                WHEN {payload_is_object} THEN ARRAY(SELECT json_object_keys(e.payload::json))
                WHEN NOT {payload_not_json} THEN '{{}}'::text[]
           END AS fields
    OFFSET 0
) f
