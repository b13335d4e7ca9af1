-- wb.explore()'s time window: the first event at or above position %(pos)s (its position
-- and time), one probe of the events position index; a binary search over positions with
-- it finds where a time window starts and ends without an index on "timestamp".
SELECT e.position::text AS position, e."timestamp"
FROM {events} e
WHERE e.position >= %(pos)s::text::xid8
ORDER BY e.position, e.persistence_id, e.sequence_nr
LIMIT 1
