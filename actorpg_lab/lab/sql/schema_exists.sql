-- Whether a schema exists (so that a role without CREATE never runs CREATE SCHEMA).
SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(name)s)
