-- Every stream that has events or a deletion mark, after %(after)s, at most %(limit)s.
-- The events part is a loose index scan over the primary key (one index probe per
-- stream), so listing 1,000 streams of 1M events does not read 1M index entries.
WITH RECURSIVE streams (pid, n) AS (
    (SELECT persistence_id, 1 FROM {events}
     WHERE persistence_id > %(after)s
     ORDER BY persistence_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.persistence_id FROM {events} e
            WHERE e.persistence_id > s.pid
            ORDER BY e.persistence_id LIMIT 1),
           s.n + 1
    FROM streams s
    WHERE s.pid IS NOT NULL AND s.n < %(limit)s
)
SELECT pid FROM streams WHERE pid IS NOT NULL
UNION
(SELECT persistence_id FROM {meta}
 WHERE persistence_id > %(after)s
 ORDER BY persistence_id LIMIT %(limit)s)
ORDER BY 1
LIMIT %(limit)s
