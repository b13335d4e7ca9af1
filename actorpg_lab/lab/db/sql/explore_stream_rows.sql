-- wb.explore(): the columns of the listed streams (%(ids)s, in that order), index probes
-- only: the first and the head event by primary key (events = head - first + 1, exact
-- for a contiguous stream; the head event gives the last event time and latest type),
-- the deletion mark and the latest snapshot.
SELECT i.persistence_id, i.ord,
       coalesce(l.head - f.first_seq + 1, 0) AS events,
       f.first_seq, l.head, l."timestamp" AS last_ms, l.event_type AS latest_type,
       coalesce(m.deleted_to, 0) AS deleted_to, sn.latest_snapshot_seq
FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS i (persistence_id, ord)
LEFT JOIN LATERAL (
    SELECT e.sequence_nr AS first_seq
    FROM {events} e
    WHERE e.persistence_id = i.persistence_id
    ORDER BY e.sequence_nr
    LIMIT 1
) f ON true
LEFT JOIN LATERAL (
    SELECT e.sequence_nr AS head, e."timestamp", {type_expr} AS event_type
    FROM {events} e
    WHERE e.persistence_id = i.persistence_id
    ORDER BY e.sequence_nr DESC
    LIMIT 1
) l ON true
LEFT JOIN {meta} m ON m.persistence_id = i.persistence_id
LEFT JOIN LATERAL (
    SELECT max(s.sequence_nr) AS latest_snapshot_seq
    FROM {snapshots} s
    WHERE s.persistence_id = i.persistence_id
) sn ON true
ORDER BY i.ord
