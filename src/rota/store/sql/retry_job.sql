-- Operator retry of a failed, poisoned or cancelled job: queued again now, with a fresh
-- attempt budget on top of the attempts already made (attempt stays monotonic, so fencing
-- tokens of earlier runs stay stale), history kept.
WITH retried AS (
    UPDATE {schema}.jobs
    SET status = 'queued',
        max_attempts = attempt + %(extra_attempts)s,
        run_after = now(),
        finished_at = NULL,
        cancel_requested = false,
        result = NULL,
        progress = NULL,
        progress_message = NULL
    WHERE id = %(id)s
        AND status IN ('failed', 'poisoned', 'cancelled')
    RETURNING id, queue, tenant_id, attempt, %(from_status)s::text AS from_status
),
events AS (
    INSERT INTO {schema}.job_events (
        job_id, tenant_id, kind, from_status, to_status, attempt, message
    )
    SELECT id, tenant_id, 'transition', from_status, 'queued', attempt, %(message)s
    FROM retried
),
notified AS MATERIALIZED (
    SELECT pg_notify(%(jobs_channel)s, queue)
    FROM retried
)
SELECT id, (SELECT count(*) FROM notified) AS notified
FROM retried
