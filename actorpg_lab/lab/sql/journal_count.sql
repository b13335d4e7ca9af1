-- How many events journal_frame will load ({where} is journal_where.sql).
SELECT count(*) AS n FROM {events} e WHERE {where}
