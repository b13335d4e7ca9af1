-- A conditional append whose query matches every event (Query.all()): wait for every
-- append in flight (they hold ROW EXCLUSIVE on the events table until they commit) and
-- hold back new ones until this transaction ends.  Serialises against all writers, by
-- design; plain appends never take this lock.
LOCK TABLE {events} IN SHARE ROW EXCLUSIVE MODE
