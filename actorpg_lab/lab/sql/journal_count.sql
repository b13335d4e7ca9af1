-- How many events journal_frame will load ({where} is journal_where.sql, $1..$8).
SELECT count(*) AS n FROM {events} e WHERE {where}
