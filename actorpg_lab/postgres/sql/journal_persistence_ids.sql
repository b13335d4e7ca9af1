-- Every stream that has events or a deletion mark.
SELECT persistence_id FROM {events}
UNION
SELECT persistence_id FROM {meta}
ORDER BY 1
