-- Which of the functions a store needs (signatures "name(argtype, ...)", resolved on the
-- search path) do not exist yet.
SELECT f.signature
FROM unnest(%(signatures)s::text[]) AS f (signature)
WHERE to_regprocedure(f.signature) IS NULL
