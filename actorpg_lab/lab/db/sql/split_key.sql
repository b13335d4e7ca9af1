-- Where to split a large load in two halves fetched at once: the planner's estimate of the
-- table's rows and a middle value of a text column from its statistics — the middle bound
-- of the histogram, or (when every value is a "most common value", e.g. few long streams)
-- the first value with at least half of the listed rows before it.  NULL without statistics.
-- $table the table (a quoted identifier, resolved through search_path), $column the column.
SELECT c.reltuples::bigint AS estimated_rows,
       coalesce(
           s.bounds[(cardinality(s.bounds) + 1) / 2],
           (SELECT m.v
            FROM (SELECT u.v,
                         sum(u.f) OVER (ORDER BY u.v ROWS BETWEEN UNBOUNDED PRECEDING
                                        AND 1 PRECEDING) AS before,
                         sum(u.f) OVER () AS total
                  FROM unnest(s.mcv, s.freqs) AS u(v, f)) m
            WHERE m.before >= m.total / 2
            ORDER BY m.v
            LIMIT 1)
       ) AS middle
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
    SELECT st.histogram_bounds::text::text[] AS bounds,
           st.most_common_vals::text::text[] AS mcv,
           st.most_common_freqs AS freqs
    FROM pg_stats st
    WHERE st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = $column::text
) s ON true
WHERE c.oid = to_regclass($table::text)
