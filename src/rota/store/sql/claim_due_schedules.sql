-- Lock up to `limit` due, active user schedules for this scheduler; other schedulers skip
-- them. The caller enqueues their jobs and advances them in the same transaction.
-- Served by scheduled_jobs_due_idx.
SELECT *
FROM {schema}.scheduled_jobs
WHERE NOT is_paused
    AND next_run_at <= now()
ORDER BY next_run_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
