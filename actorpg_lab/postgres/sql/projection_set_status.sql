-- Set the status of a row from any process (pause, resume, request a rebuild) when it
-- is in one of %(from)s; returns the row.
UPDATE {checkpoints}
SET status = %(status)s, updated_at = now()
WHERE name = %(name)s AND version = %(version)s AND status = ANY(%(from)s::text[])
RETURNING {columns}
