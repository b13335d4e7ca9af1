-- wb.explore()'s time window: the lowest and highest position in the journal (two probes
-- of the events position index), the range its binary search starts from.
SELECT (SELECT e.position::text FROM {events} e ORDER BY e.position LIMIT 1) AS low,
       (SELECT e.position::text FROM {events} e ORDER BY e.position DESC LIMIT 1) AS high
