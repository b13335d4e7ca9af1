-- What the explorer's SQL can use on this journal: whether the journal's type function
-- %(signature)s (e.g. '"events_type_v1"(text)', through the search_path) exists -- it is
-- missing on a journal not migrated yet --, whether the events table %(table)s (a quoted
-- name) has a metadata column, and whether the meta and snapshot tables exist yet (the
-- stores create them on first use).
SELECT to_regprocedure(%(signature)s::text) IS NOT NULL AS present,
       EXISTS (
           SELECT 1 FROM pg_attribute a
           WHERE a.attrelid = to_regclass(%(table)s::text)
             AND a.attname = 'metadata' AND a.attnum > 0 AND NOT a.attisdropped
       ) AS has_metadata,
       to_regclass(%(meta)s::text) IS NOT NULL AS has_meta,
       to_regclass(%(snapshots)s::text) IS NOT NULL AS has_snapshots
