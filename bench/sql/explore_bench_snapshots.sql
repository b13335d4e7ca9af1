-- bench/explore.py: the snapshots a keep_n=3 store saving every 1,000 events would hold
-- (the three newest multiples of 1,000 of each stream), state {"events": n}.
INSERT INTO snapshots (persistence_id, sequence_nr, payload, timestamp)
SELECT s.persistence_id, s.sequence_nr, '{"events": ' || s.sequence_nr || '}', s.timestamp
FROM (
    SELECT e.persistence_id, e.sequence_nr, e.timestamp,
           row_number() OVER (PARTITION BY e.persistence_id ORDER BY e.sequence_nr DESC) AS k
    FROM events e
    WHERE e.sequence_nr % 1000 = 0
) s
WHERE s.k <= 3
ON CONFLICT DO NOTHING
