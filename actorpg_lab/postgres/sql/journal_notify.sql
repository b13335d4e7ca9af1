-- The NOTIFY of a conditional append, sent right after its transaction committed (in
-- the same round trip): a transaction that NOTIFYs holds the server's global notify
-- lock through its commit — WAL flush included — so a NOTIFY inside every conditional
-- append would serialise their commits (measured: 16 writers on unrelated boundaries
-- no faster than one).  Sent after the commit it costs no flush under that lock.  It
-- is sent after a failed condition too (a spurious wake-up: live queries re-read).
SELECT pg_notify(%(channel)s, '')
