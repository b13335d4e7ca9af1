-- Whether a relation exists (resolved through search_path) and the planner's idea of its
-- size: reltuples (-1 when never analysed) and its bytes on disk (with TOAST).
-- $table the relation as a quoted identifier.
SELECT r.oid IS NOT NULL AS present,
       c.reltuples::bigint AS estimated_rows,
       CASE WHEN r.oid IS NULL THEN 0 ELSE pg_table_size(r.oid) END AS bytes
FROM (SELECT to_regclass($table::text) AS oid) r
LEFT JOIN pg_class c ON c.oid = r.oid
