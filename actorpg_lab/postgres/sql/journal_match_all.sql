-- DCB query branch (see journal_match.sql): every event after the bound (match_all).
SELECT e.position, e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp,
       {metadata} AS metadata
FROM {events} e
WHERE e.position >= %(lo)s::text::xid8 AND {after}
