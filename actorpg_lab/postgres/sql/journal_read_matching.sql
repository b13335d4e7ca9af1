-- read_matching: the events of a DCB query (journal_match.sql) in key order, at most
-- %(limit)s, and the snapshot of this very statement: the consistency token (what the
-- decision saw).  Committed events above the visibility horizon are included: a
-- decision must see everything committed, and the token's snapshot says exactly which
-- transactions it saw.  One row with NULL columns when nothing matches.
SELECT snap.s::text, m.position::text::bigint, m.persistence_id, m.sequence_nr, m.payload,
       m.tags, m.timestamp, m.metadata
FROM (SELECT pg_current_snapshot() AS s) AS snap
     LEFT JOIN LATERAL (
         SELECT DISTINCT ON (u.position, u.persistence_id, u.sequence_nr) u.*
         FROM ({match}) AS u
         ORDER BY u.position, u.persistence_id, u.sequence_nr
         LIMIT %(limit)s
     ) AS m ON true
ORDER BY m.position, m.persistence_id, m.sequence_nr
