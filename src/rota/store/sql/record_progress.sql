-- Persist a handler's progress report, fenced by the run's lease as in complete_jobs.sql,
-- with a progress event and a NOTIFY for live watchers. No row back means the lease was lost.
WITH updated AS (
    UPDATE {schema}.jobs
    SET progress = %(progress)s,
        progress_message = %(message)s
    WHERE id = %(id)s
        AND attempt = %(attempt)s
        AND locked_by = %(worker_id)s
    RETURNING id, tenant_id, attempt
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, attempt, progress, message)
    SELECT id, tenant_id, 'progress', attempt, %(progress)s, %(message)s
    FROM updated
)
SELECT id
FROM updated
