-- Can every table in one schema be distributed by persistence_id with Citus, all co-located?
-- One row per problem; no rows means yes.  %(schema)s is the schema's name.
-- Rules (docs/scale-out.md, "Checking a schema before distributing it"):
--   * every table has a persistence_id column, and it is text everywhere (co-location
--     needs one distribution column type);
--   * every primary key, unique constraint, exclusion constraint and unique index
--     includes persistence_id (Citus enforces them per shard only);
--   * no foreign key from or to these tables;
--   * no sequence feeds the defaults of more than one table.
WITH tables AS (
    SELECT c.oid, c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
),
dist AS (
    SELECT t.oid, t.relname, a.attnum, a.atttypid
    FROM tables t
    LEFT JOIN pg_attribute a
           ON a.attrelid = t.oid AND a.attname = 'persistence_id' AND NOT a.attisdropped
)
SELECT d.relname::text AS table_name, 'no persistence_id column' AS problem,
       ''::text AS detail
FROM dist d WHERE d.attnum IS NULL
UNION ALL
SELECT d.relname::text, 'persistence_id is not text', format_type(d.atttypid, NULL)
FROM dist d WHERE d.attnum IS NOT NULL AND d.atttypid <> 'text'::regtype
UNION ALL
SELECT d.relname::text,
       CASE con.contype WHEN 'p' THEN 'primary key without persistence_id'
                        WHEN 'u' THEN 'unique constraint without persistence_id'
                        ELSE 'exclusion constraint without persistence_id' END,
       con.conname::text
FROM dist d
JOIN pg_constraint con ON con.conrelid = d.oid AND con.contype IN ('p', 'u', 'x')
WHERE d.attnum IS NULL OR NOT (d.attnum = ANY (con.conkey))
UNION ALL
SELECT d.relname::text, 'unique index without persistence_id', ic.relname::text
FROM dist d
JOIN pg_index i ON i.indrelid = d.oid AND i.indisunique
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
  AND (d.attnum IS NULL OR NOT (d.attnum = ANY (i.indkey::int2[])))
UNION ALL
SELECT coalesce(src.relname, dst.relname)::text, 'foreign key',
       con.conname::text || ' -> ' || (SELECT r.relname FROM pg_class r WHERE r.oid = con.confrelid)
FROM pg_constraint con
LEFT JOIN tables src ON src.oid = con.conrelid
LEFT JOIN tables dst ON dst.oid = con.confrelid
WHERE con.contype = 'f' AND (src.oid IS NOT NULL OR dst.oid IS NOT NULL)
UNION ALL
SELECT string_agg(DISTINCT t.relname::text, ', ' ORDER BY t.relname::text),
       'sequence shared across tables', seq.relname::text
FROM pg_depend dep
JOIN pg_attrdef ad ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = ad.oid
JOIN pg_class seq ON dep.refclassid = 'pg_class'::regclass AND dep.refobjid = seq.oid
                 AND seq.relkind = 'S'
JOIN tables t ON t.oid = ad.adrelid
GROUP BY seq.oid, seq.relname
HAVING count(DISTINCT t.oid) > 1
ORDER BY 1, 2, 3
