-- The optional filters shared by the journal loaders (a NULL parameter means "no filter").
-- $1 persistence ids (JSON array), $2..$3 sequence range (inclusive),
-- $4..$5 time window in epoch ms [from, until), $6 all / $7 any / $8 not_ tags (JSON arrays)
-- matched against the events table's CSV tag mirror.  The bounds' defaults (0, max bigint,
-- min bigint, max bigint: "no bound") fold to TRUE at plan time, so an unfiltered load
-- checks nothing per row.
    ($1::jsonb IS NULL
     OR e.persistence_id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
AND ($2::bigint = 0 OR e.sequence_nr >= $2::bigint)
AND ($3::bigint = 9223372036854775807 OR e.sequence_nr <= $3::bigint)
AND ($4::bigint = (-9223372036854775807 - 1) OR e."timestamp" >= $4::bigint)
AND ($5::bigint = 9223372036854775807 OR e."timestamp" < $5::bigint)
AND ($6::jsonb IS NULL
     OR string_to_array(e.tags, ',') @> ARRAY(SELECT jsonb_array_elements_text($6::jsonb)))
AND ($7::jsonb IS NULL
     OR string_to_array(e.tags, ',') && ARRAY(SELECT jsonb_array_elements_text($7::jsonb)))
AND ($8::jsonb IS NULL
     OR NOT (string_to_array(e.tags, ',') && ARRAY(SELECT jsonb_array_elements_text($8::jsonb))))
