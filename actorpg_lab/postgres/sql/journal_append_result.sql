-- Fragment of journal_append.sql and journal_append_one.sql ({result}): the head found,
-- the timestamp, the position written (NULL: nothing written) and the NOTIFY, sent only
-- when the rows went in.
SELECT head.seq AS head,
       clock.ms AS timestamp,
       (SELECT i.position::text::bigint FROM inserted_events i LIMIT 1) AS position,
       CASE WHEN head.seq = %(expected)s AND %(notify)s
            THEN pg_notify(%(channel)s, '') END AS notified
FROM head, clock
