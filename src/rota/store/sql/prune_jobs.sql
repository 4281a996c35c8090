-- Retention: delete one batch of jobs finished longer ago than the retention age, with their
-- events and runs, in one statement. SKIP LOCKED keeps concurrent pruners apart.
-- Served by jobs_finished_idx and job_events_pkey (job_id, id).
WITH doomed AS (
    SELECT id
    FROM {schema}.jobs
    WHERE finished_at < now() - make_interval(secs => %(retention_seconds)s)
        AND status IN ('succeeded', 'failed', 'poisoned', 'cancelled')
    ORDER BY finished_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
events AS (
    DELETE FROM {schema}.job_events AS e
    USING doomed AS d
    WHERE e.job_id = d.id
),
runs AS (
    DELETE FROM {schema}.job_runs AS r
    USING doomed AS d
    WHERE r.job_id = d.id
)
DELETE FROM {schema}.jobs AS j
USING doomed AS d
WHERE j.id = d.id
RETURNING j.id
