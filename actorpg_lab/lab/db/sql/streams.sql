-- streams_frame: one row per stream found in the events, meta or snapshots table.
-- The event types are the names in the payloads' codec envelopes: the text after
-- $type_prefix (the read model's type_prefix(), what every envelope starts with) up to the
-- closing quote — the same name journal_frame(expand=True) shows in event_type.
-- $ids persistence ids (a text[] literal or NULL).
WITH wanted AS (
    SELECT $ids::text[] AS ids
),
snaps AS (
    SELECT s.persistence_id, count(*) AS snapshots, max(s.sequence_nr) AS latest_snapshot_seq
    FROM {snapshots} s, wanted w
    WHERE w.ids IS NULL OR s.persistence_id = ANY (w.ids)
    GROUP BY s.persistence_id
),
ev AS (
    SELECT e.persistence_id,
           count(*) AS events,
           min(e.sequence_nr) AS first_seq,
           max(e.sequence_nr) AS last_seq,
           count(*) FILTER (WHERE e.sequence_nr > coalesce(sn.latest_snapshot_seq, 0))
               AS events_to_replay,
           max(e."timestamp") AS last_write_ms,
           array_agg(DISTINCT split_part(substr(e.payload, length($type_prefix::text) + 1),
                                         '"', 1))
               FILTER (WHERE starts_with(e.payload, $type_prefix::text)) AS event_types
    FROM {events} e
    CROSS JOIN wanted w
    LEFT JOIN snaps sn ON sn.persistence_id = e.persistence_id
    WHERE w.ids IS NULL OR e.persistence_id = ANY (w.ids)
    GROUP BY e.persistence_id
),
meta AS (
    SELECT m.persistence_id, m.deleted_to
    FROM {meta} m, wanted w
    WHERE w.ids IS NULL OR m.persistence_id = ANY (w.ids)
)
SELECT coalesce(ev.persistence_id, meta.persistence_id, snaps.persistence_id) AS persistence_id,
       coalesce(ev.events, 0) AS events,
       ev.first_seq,
       greatest(coalesce(ev.last_seq, 0), coalesce(meta.deleted_to, 0)) AS head,
       coalesce(meta.deleted_to, 0) AS deleted_to,
       coalesce(snaps.snapshots, 0) AS snapshots,
       snaps.latest_snapshot_seq,
       coalesce(ev.events_to_replay, 0) AS events_to_replay,
       ev.last_write_ms,
       coalesce(ev.event_types, ARRAY[]::text[]) AS event_types
FROM ev
FULL JOIN meta ON meta.persistence_id = ev.persistence_id
FULL JOIN snaps ON snaps.persistence_id = coalesce(ev.persistence_id, meta.persistence_id)
ORDER BY 1
