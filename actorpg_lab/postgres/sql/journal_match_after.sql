-- "Not seen by the decision" (a fragment of journal_match.sql and
-- journal_append_if.sql, for the event row e): with a consistency token {snap}
-- (the read's pg_current_snapshot()): every event the snapshot does not see — wherever
-- its position falls, so a transaction that stays open causes no false conflict — or,
-- for a read cut off by its limit, whose key is past the last event read ({u_pos},
-- {u_pid}, {u_seq}); with an offset key {a_pos}, {a_pid}, {a_seq}: events whose key is
-- greater.  NULL: no such bound.  The placeholders are the bound parameters of one
-- decision (journal_match.sql) or the columns of one request of a group.
({snap} IS NULL
 OR NOT pg_visible_in_snapshot(e.position, {snap})
 OR (e.position, e.persistence_id, e.sequence_nr) > ({u_pos}, {u_pid}, {u_seq}))
AND ({a_pos} IS NULL
 OR (e.position, e.persistence_id, e.sequence_nr) > ({a_pos}, {a_pid}, {a_seq}))
