-- Whether a relation (a quoted identifier, resolved through search_path) exists.
SELECT to_regclass($1::text) IS NOT NULL AS present
