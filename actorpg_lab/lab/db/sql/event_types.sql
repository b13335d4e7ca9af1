-- event_types_frame: the journal grouped by kind and field names (see
-- event_types_shape.sql): one hash aggregate per (stream, kind, fields) over one scan,
-- then per group: events, streams, first/last timestamp, how many payloads are not
-- JSON, and a stream to take a sample payload from (event_types_sample.sql).
-- $1 persistence ids (JSON array or NULL); $2/$3 a persistence_id range [from, to)
-- (NULL = open: the halves of a large journal, read at once over two connections and
-- merged by the caller — the groups of disjoint stream ranges add up).
-- {shape}: event_types_shape.sql with {rows} = event_types_rows.sql;
-- {row_not_json}: "e.payload is not JSON" (only evaluated where fields is NULL).
WITH per_stream AS (
    SELECT e.persistence_id, e.kind, e.fields,
           count(*) AS events,
           min(e."timestamp") AS first_ts,
           max(e."timestamp") AS last_ts,
           count(*) FILTER (WHERE e.fields IS NULL AND {row_not_json}) AS not_json
    FROM {shape}
    GROUP BY 1, 2, 3
)
SELECT kind, fields, sum(events)::bigint AS events, count(*)::bigint AS streams,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(not_json)::bigint AS not_json,
       min(persistence_id) AS sample_id
FROM per_stream
GROUP BY 1, 2
ORDER BY 1, 2
