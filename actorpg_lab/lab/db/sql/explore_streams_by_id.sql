-- wb.explore() ordered by id: one page of stream ids after %(after)s that start with
-- %(prefix)s ('' = any), by a loose index scan of the events primary key (one index
-- descent per stream; the recursion stops at the first id past the prefix, and the
-- outer LIMIT stops it once the page is full).  In the server's collation order.
WITH RECURSIVE ids AS (
    (SELECT e.persistence_id
     FROM {events} e
     WHERE e.persistence_id > %(after)s::text AND e.persistence_id >= %(prefix)s::text
     ORDER BY e.persistence_id
     LIMIT 1)
    UNION ALL
    SELECT (SELECT e.persistence_id
            FROM {events} e
            WHERE e.persistence_id > i.persistence_id
            ORDER BY e.persistence_id
            LIMIT 1)
    FROM ids i
    WHERE i.persistence_id IS NOT NULL AND starts_with(i.persistence_id, %(prefix)s::text)
)
SELECT i.persistence_id
FROM ids i
WHERE i.persistence_id IS NOT NULL AND starts_with(i.persistence_id, %(prefix)s::text)
LIMIT %(page)s
