-- "Not seen by the decision" (a fragment of journal_match.sql, for the event row e):
-- with a consistency token %(snap)s (the read's pg_current_snapshot()): every event the
-- snapshot does not see — wherever its position falls, so a transaction that stays
-- open causes no false conflict — or, for a read cut off by its limit, whose key is
-- past the last event read (%(u_pos)s, %(u_pid)s, %(u_seq)s); with an offset key
-- %(a_pos)s, %(a_pid)s, %(a_seq)s: events whose key is greater.  NULL: no such bound.
(%(snap)s::text::pg_snapshot IS NULL
 OR NOT pg_visible_in_snapshot(e.position, %(snap)s::text::pg_snapshot)
 OR (e.position, e.persistence_id, e.sequence_nr)
    > (%(u_pos)s::text::xid8, %(u_pid)s::text, %(u_seq)s::bigint))
AND (%(a_pos)s::text::xid8 IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr)
    > (%(a_pos)s::text::xid8, %(a_pid)s::text, %(a_seq)s::bigint))
