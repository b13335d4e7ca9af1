-- Which of the functions a store needs (signatures "name(argtype, ...)", resolved on the
-- search path) do not exist yet (present = false), or exist with a strictness other
-- than the one the store defines (%(strict)s; present = true: an earlier version's
-- definition, replaced with the same results).
SELECT f.signature, p.oid IS NOT NULL AS present
FROM unnest(%(signatures)s::text[], %(strict)s::bool[]) AS f (signature, strict)
     LEFT JOIN pg_proc p ON p.oid = to_regprocedure(f.signature)
WHERE p.oid IS NULL OR p.proisstrict <> f.strict
