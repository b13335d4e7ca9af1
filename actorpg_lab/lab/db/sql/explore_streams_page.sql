-- The shared end of explore_streams_recent.sql and explore_streams_tagged.sql (a fragment
-- filled into their {page_tail}): from the walk's rows (the CTE "scanned"), each stream
-- once at its newest row, minus the streams already shown (%(seen)s), the page in walk
-- order, and one 'end' row with the walk's last row and how many rows it read (the
-- cursor of the next page).
firsts AS (
    SELECT DISTINCT ON (s.persistence_id) s.persistence_id, s.sequence_nr, s.position
    FROM scanned s
    WHERE NOT (s.persistence_id = ANY (coalesce(%(seen)s::text[], ARRAY[]::text[])))
    ORDER BY s.persistence_id, s.position DESC, s.sequence_nr DESC
),
page AS (
    SELECT f.persistence_id, f.sequence_nr, f.position
    FROM firsts f
    ORDER BY f.position DESC, f.persistence_id DESC, f.sequence_nr DESC
    LIMIT %(page)s
),
bottom AS (
    SELECT s.persistence_id, s.sequence_nr, s.position, count(*) OVER () AS scanned
    FROM scanned s
    ORDER BY s.position, s.persistence_id, s.sequence_nr
    LIMIT 1
)
SELECT * FROM (
    SELECT 'stream' AS kind, p.persistence_id, p.sequence_nr, p.position::text AS position,
           0::bigint AS scanned, (SELECT count(*) FROM firsts) AS found
    FROM page p
    ORDER BY p.position DESC, p.persistence_id DESC, p.sequence_nr DESC
) streams
UNION ALL
SELECT 'end', b.persistence_id, b.sequence_nr, b.position::text, b.scanned, 0
FROM bottom b
