-- What exists of a store's schema, read from the catalog (no locks taken): for each
-- table name, whether it exists, its columns, and its valid and invalid indexes.
-- Names are quoted before resolution so mixed-case table names resolve as created.
SELECT t.name,
       to_regclass(quote_ident(t.name)) IS NOT NULL AS present,
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = to_regclass(quote_ident(t.name))
               AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       ARRAY(SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = to_regclass(quote_ident(t.name)) AND i.indisvalid) AS indexes,
       ARRAY(SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = to_regclass(quote_ident(t.name)) AND NOT i.indisvalid)
           AS invalid_indexes
FROM unnest(%(tables)s::text[]) AS t (name)
