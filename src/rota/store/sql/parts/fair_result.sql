-- The result of both fair claims, after `-- part: claim_chosen`: one row per claimed job, or a
-- single row of NULL job columns when none was claimed; every row carries where the walk
-- stopped (the next cursor) and whether it reached the end.
SELECT claimed.*, walked.next_cursor, walked.reached_end
FROM (
    SELECT max(tenant_key) AS next_cursor, COALESCE(bool_or(tenant_key IS NULL), true) AS reached_end
    FROM walk
) AS walked
LEFT JOIN claimed ON true
ORDER BY claimed.run_after
