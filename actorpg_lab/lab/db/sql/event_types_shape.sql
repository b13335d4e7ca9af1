-- event_types_frame / event_types_sample: the events with their kind and field names, a
-- FROM item aliased e (persistence_id, sequence_nr, "timestamp", payload, kind, fields).
-- kind: the envelope head (the text before "$value": type name and version of a
-- codec-encoded dataclass), '' for plain JSON.  fields: the keys of the "$value" object
-- (of a plain object; '{}' for other JSON values), in stored order; NULL when they cannot
-- be read (not JSON, or not an envelope the codec wrote).
-- Three levels, each fenced by OFFSET 0 so every per-row expression is computed ONCE: the
-- type rule (~1.5 us a row here) and the "$value" text (~0.8 us) were each evaluated twice
-- when the planner flattened the lateral form this replaced, and the lateral form without
-- the fences was rescanned per row (a payload parsed once either way).
-- {rows}: the events' filter (a WHERE condition on e).  {inner_is_object}: "v.inner is a
-- JSON object"; {payload_is_object}: "v.payload is a JSON object"; {payload_not_json}:
-- "v.payload is not JSON" (IS JSON on PostgreSQL 16+).
(SELECT v.persistence_id, v.sequence_nr, v."timestamp", v.payload,
        CASE WHEN v.envelope THEN left(v.payload, v.at - 1) ELSE '' END AS kind,
        CASE WHEN v.envelope THEN
                 CASE WHEN {inner_is_object}
                      THEN ARRAY(SELECT json_object_keys(v.inner::json)) END
             WHEN {payload_is_object} THEN ARRAY(SELECT json_object_keys(v.payload::json))
             WHEN NOT {payload_not_json} THEN '{{}}'::text[]
        END AS fields
 FROM (SELECT s.*, CASE WHEN s.envelope THEN left(substr(s.payload, s.at + 9), -1) END AS inner
       FROM (SELECT e.persistence_id, e.sequence_nr, e."timestamp", e.payload,
                    strpos(e.payload, '"$value":') AS at,
                    strpos(e.payload, '"$value":') > 0 AND {type_of_payload} IS NOT NULL
                        AS envelope
             FROM {events} e
             WHERE {rows}
             OFFSET 0) s
       OFFSET 0) v
 OFFSET 0) e
