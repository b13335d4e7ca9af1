-- Forget idempotency keys older than %(seconds)s seconds (a retry with one of them
-- appends again).
DELETE FROM {idempotency}
WHERE created_at < now() - %(seconds)s * interval '1 second'
