-- The end of both fair claims: claim the `chosen` jobs (attempt counted, lease, transition
-- event) and return them with where the tenant walk stopped.
claimed AS (
    UPDATE {schema}.jobs AS j
    SET status = 'running',
        attempt = j.attempt + 1,
        run_id = gen_random_uuid(),
        locked_by = %(worker_id)s,
        locked_until = now() + make_interval(secs => %(lease_seconds)s),
        started_at = now()
    FROM chosen AS c
    WHERE j.id = c.id
    RETURNING j.*
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt)
    SELECT id, tenant_id, 'transition', 'queued', 'running', attempt
    FROM claimed
)
-- One row per claimed job, or a single row of NULL job columns when none was claimed: every
-- row carries where the walk stopped (the next cursor) and whether it reached the end.
SELECT claimed.*, walked.next_cursor, walked.reached_end
FROM (
    SELECT max(tenant_key) AS next_cursor, COALESCE(bool_or(tenant_key IS NULL), true) AS reached_end
    FROM walk
) AS walked
LEFT JOIN claimed ON true
ORDER BY claimed.run_after
