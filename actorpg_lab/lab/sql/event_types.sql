-- event_types_frame: the journal grouped by envelope head (the text before "$value":
-- type name and version of a codec-encoded dataclass; '' for plain JSON) and by the
-- field names of the payload (the "$value" object's keys; a plain object's keys; '{}'
-- for other values; NULL when they cannot be read: not JSON, or not an envelope the
-- codec wrote).  One hash aggregate per (stream, kind, fields) over the scan, then per
-- group: events, streams, first/last timestamp, how many payloads are not JSON, and one
-- sample payload the caller decodes with the current code.
-- $1 persistence ids (JSON array or NULL).
-- {inner_is_object}: "v.inner is a JSON object"; {payload_is_object}: "e.payload is a JSON
-- object"; {payload_not_json} / {row_not_json}: "e.payload" / "payload" is not JSON
-- (IS JSON on PostgreSQL 16+; the not-JSON test only runs where fields could not be read).
WITH wanted AS (
    SELECT CASE WHEN $1::jsonb IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text($1::jsonb)) END AS ids
),
rows AS (
    SELECT e.persistence_id, e."timestamp", e.payload,
           CASE WHEN v.envelope THEN left(e.payload, v.at - 1) ELSE '' END AS kind,
           CASE WHEN v.envelope THEN
                    CASE WHEN {inner_is_object}
                         THEN ARRAY(SELECT json_object_keys(v.inner::json)) END
                WHEN {payload_is_object}
                    THEN ARRAY(SELECT json_object_keys(e.payload::json))
                WHEN NOT {payload_not_json} THEN '{{}}'::text[]
           END AS fields
    FROM {events} e
         CROSS JOIN LATERAL (
             SELECT s.at, s.at > 0 AND e.payload LIKE '{{"$type":"%' AS envelope,
                    left(substr(e.payload, s.at + 9), -1) AS inner
             FROM (SELECT strpos(e.payload, '"$value":') AS at) s
         ) v,
         wanted w
    WHERE w.ids IS NULL OR e.persistence_id = ANY (w.ids)
),
per_stream AS (
    SELECT persistence_id, kind, fields,
           count(*) AS events,
           min("timestamp") AS first_ts,
           max("timestamp") AS last_ts,
           count(*) FILTER (WHERE fields IS NULL AND {row_not_json}) AS not_json,
           min(payload COLLATE "C") AS sample
    FROM rows
    GROUP BY 1, 2, 3
)
SELECT kind, fields, sum(events)::bigint AS events, count(*)::bigint AS streams,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(not_json)::bigint AS not_json,
       min(sample COLLATE "C") AS sample
FROM per_stream
GROUP BY 1, 2
ORDER BY 1, 2
