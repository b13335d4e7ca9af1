-- Events matching a TagFilter: every tag of %(all)s, one of %(any)s (if any), none of %(not)s.
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp
FROM {events} e
JOIN (
    SELECT t.persistence_id, t.sequence_nr
    FROM {tags} t
    WHERE t.tag = ANY(%(candidates)s::text[]) AND t.timestamp >= %(from_ts)s
    GROUP BY t.persistence_id, t.sequence_nr
    HAVING count(*) FILTER (WHERE t.tag = ANY(%(all)s::text[])) = cardinality(%(all)s::text[])
       AND (cardinality(%(any)s::text[]) = 0
            OR count(*) FILTER (WHERE t.tag = ANY(%(any)s::text[])) > 0)
) m ON m.persistence_id = e.persistence_id AND m.sequence_nr = e.sequence_nr
WHERE NOT EXISTS (
    SELECT 1 FROM {tags} x
    WHERE x.persistence_id = e.persistence_id AND x.sequence_nr = e.sequence_nr
      AND x.tag = ANY(%(not)s::text[])
)
ORDER BY e.timestamp, e.persistence_id, e.sequence_nr
LIMIT %(limit)s
