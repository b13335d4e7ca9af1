-- event_types_frame: the journal grouped by kind and field names (see
-- event_types_shape.sql): one hash aggregate per (stream, kind, fields) over one scan,
-- then per group: events, streams, first/last timestamp, how many payloads are not
-- JSON, and a stream to take a sample payload from (event_types_sample.sql).
-- $1 persistence ids (JSON array or NULL).  {shape}: event_types_shape.sql;
-- {row_not_json}: "e.payload is not JSON" (only evaluated where fields is NULL).
WITH wanted AS (
    SELECT CASE WHEN $1::jsonb IS NULL THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text($1::jsonb)) END AS ids
),
per_stream AS (
    SELECT e.persistence_id, f.kind, f.fields,
           count(*) AS events,
           min(e."timestamp") AS first_ts,
           max(e."timestamp") AS last_ts,
           count(*) FILTER (WHERE f.fields IS NULL AND {row_not_json}) AS not_json
    FROM {shape}, wanted w
    WHERE w.ids IS NULL OR e.persistence_id = ANY (w.ids)
    GROUP BY 1, 2, 3
)
SELECT kind, fields, sum(events)::bigint AS events, count(*)::bigint AS streams,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(not_json)::bigint AS not_json,
       min(persistence_id) AS sample_id
FROM per_stream
GROUP BY 1, 2
ORDER BY 1, 2
