-- Whether the relation $table (a quoted identifier, resolved through search_path) has a
-- live column named $column (e.g. the events table's position, missing on a journal
-- created before positions existed).
SELECT EXISTS (
    SELECT 1 FROM pg_attribute a
    WHERE a.attrelid = to_regclass($table::text)
      AND a.attname = $column::text
      AND a.attnum > 0 AND NOT a.attisdropped
) AS present
