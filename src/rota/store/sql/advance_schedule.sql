-- After a user schedule's tick was enqueued (same transaction): record it, set the next.
UPDATE {schema}.scheduled_jobs
SET last_run_at = next_run_at,
    last_job_id = %(job_id)s,
    next_run_at = %(next_run_at)s,
    updated_at = now()
WHERE id = %(id)s
