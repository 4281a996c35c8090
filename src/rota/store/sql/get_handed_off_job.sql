-- The job an enqueue handed to this worker (ADR 0012), if the worker still holds it: by
-- primary key, fenced by holder (a job has one exactly while it runs, migration 0009).
SELECT *
FROM {schema}.jobs
WHERE id = %(id)s
    AND locked_by = %(worker_id)s
