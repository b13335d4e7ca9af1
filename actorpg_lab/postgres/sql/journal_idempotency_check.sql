-- Whether the idempotency table exists (a database with auto_create_tables=False may
-- lack it until migrate_metadata.sql ran).
SELECT to_regclass(quote_ident(%(table)s)) IS NOT NULL
