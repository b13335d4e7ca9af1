-- A keyed append found its key taken (a retry, or a racing identical retry that
-- committed first): the key's row, counting the retry in hits when its content is the
-- same (same digest).
UPDATE {idempotency}
SET hits = hits + (digest = %(digest)s)::int
WHERE persistence_id = %(pid)s AND key = %(key)s
RETURNING first_seq, events, digest
