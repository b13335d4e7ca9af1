-- Events carrying one tag, in offset order, driven by the tag table's primary key.
SELECT e.persistence_id, e.sequence_nr, e.payload, e.tags, e.timestamp
FROM {tags} t
JOIN {events} e ON e.persistence_id = t.persistence_id AND e.sequence_nr = t.sequence_nr
WHERE t.tag = %(tag)s AND t.timestamp >= %(from_ts)s
ORDER BY t.timestamp, t.persistence_id, t.sequence_nr
LIMIT %(limit)s
