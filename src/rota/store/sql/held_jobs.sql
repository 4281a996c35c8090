-- The jobs this worker holds a lease on, for a stopping worker to find jobs handed off to it
-- that it never started (ADR 0012). Through jobs_running_idx: running jobs only.
SELECT id, attempt
FROM {schema}.jobs
WHERE status = 'running'
    AND locked_by = %(worker_id)s
