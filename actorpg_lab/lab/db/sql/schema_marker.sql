-- use_schema(): the comment on a schema (one row if it exists); fresh=True drops only a
-- schema whose comment is the workbench's marker.
SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $name
