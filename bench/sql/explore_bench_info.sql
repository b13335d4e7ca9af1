-- bench/explore.py --schema: what a journal seeded earlier holds (events, the longest
-- stream and its head, snapshots).
SELECT (SELECT count(*) FROM events) AS events,
       l.persistence_id AS long_pid, l.head AS long_head,
       (SELECT count(*) FROM snapshots) AS snapshots
FROM (SELECT e.persistence_id, max(e.sequence_nr) AS head
      FROM events e GROUP BY 1 ORDER BY 2 DESC LIMIT 1) l
