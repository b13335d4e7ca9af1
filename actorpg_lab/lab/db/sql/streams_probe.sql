-- streams_frame() without stats: one row per stream at O(streams) cost, never O(events).
-- The stream ids come from a loose index scan of the events primary key (one index
-- descent per stream: the recursive step asks for the first id after the previous one)
-- plus the meta and snapshot tables (a handful of rows per stream); or from $ids.
-- Per stream, index probes only: the first and the last event by primary key (the head
-- and its timestamp = the last write), the deletion mark, the snapshots (keep_n rows).
-- events = head - first_seq + 1 and events_to_replay = head - max(latest snapshot,
-- first_seq - 1): exact for a contiguous stream (the journal's contract: 1-based,
-- contiguous, deletes remove a prefix); a stream with a gap (a lost row) is what
-- check_streams() and streams_frame(stats=True) report.
-- $ids persistence ids (a text[] literal or NULL).
WITH RECURSIVE event_ids AS (
    (SELECT e.persistence_id
     FROM {events} e
     WHERE $ids::text[] IS NULL
     ORDER BY e.persistence_id
     LIMIT 1)
    UNION ALL
    SELECT (SELECT e.persistence_id
            FROM {events} e
            WHERE e.persistence_id > i.persistence_id
            ORDER BY e.persistence_id
            LIMIT 1)
    FROM event_ids i
    WHERE i.persistence_id IS NOT NULL
),
ids AS (
    SELECT i.persistence_id FROM event_ids i WHERE i.persistence_id IS NOT NULL
    UNION
    SELECT m.persistence_id FROM {meta} m WHERE $ids::text[] IS NULL
    UNION
    SELECT s.persistence_id FROM {snapshots} s WHERE $ids::text[] IS NULL
    UNION
    SELECT w.id FROM unnest($ids::text[]) AS w (id)
),
probed AS (
    SELECT i.persistence_id, f.first_seq, l.last_seq, l.last_write_ms, m.deleted_to,
           sn.snapshots, sn.latest_snapshot_seq
    FROM ids i
    LEFT JOIN LATERAL (
        SELECT e.sequence_nr AS first_seq
        FROM {events} e
        WHERE e.persistence_id = i.persistence_id
        ORDER BY e.sequence_nr
        LIMIT 1
    ) f ON true
    LEFT JOIN LATERAL (
        SELECT e.sequence_nr AS last_seq, e."timestamp" AS last_write_ms
        FROM {events} e
        WHERE e.persistence_id = i.persistence_id
        ORDER BY e.sequence_nr DESC
        LIMIT 1
    ) l ON true
    LEFT JOIN {meta} m ON m.persistence_id = i.persistence_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS snapshots, max(s.sequence_nr) AS latest_snapshot_seq
        FROM {snapshots} s
        WHERE s.persistence_id = i.persistence_id
    ) sn ON true
)
SELECT p.persistence_id,
       coalesce(p.last_seq - p.first_seq + 1, 0) AS events,
       p.first_seq,
       greatest(coalesce(p.last_seq, 0), coalesce(p.deleted_to, 0)) AS head,
       coalesce(p.deleted_to, 0) AS deleted_to,
       p.snapshots,
       p.latest_snapshot_seq,
       coalesce(greatest(0, p.last_seq - greatest(coalesce(p.latest_snapshot_seq, 0),
                                                  p.first_seq - 1)), 0) AS events_to_replay,
       p.last_write_ms,
       NULL::text[] AS event_types
FROM probed p
WHERE p.first_seq IS NOT NULL OR p.deleted_to IS NOT NULL OR p.snapshots > 0
ORDER BY 1
