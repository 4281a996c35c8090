-- Re-queue running jobs whose lease ended (their worker crashed, froze or lost the database),
-- or poison them when their attempts are used up; the attempt was counted at claim.
-- Any worker may run this at any time: SKIP LOCKED avoids contention, and FOR UPDATE
-- re-tests the lease on the locked row version, so a job completed or re-claimed since the
-- scan is left alone (River #1302); the UPDATE then finds each row by primary key.
-- Database time only. Served by jobs_running_idx (a scan of the running set, migration 0008).
WITH expired AS (
    SELECT id, locked_by
    FROM {schema}.jobs
    WHERE status = 'running'
        AND locked_until < now()
    ORDER BY locked_until
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
rescued AS (
    UPDATE {schema}.jobs AS j
    SET status = CASE WHEN j.attempt >= j.max_attempts THEN 'poisoned' ELSE 'queued' END,
        locked_by = NULL,
        locked_until = NULL,
        cancel_requested = false,
        run_after = now(),
        finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
        error = jsonb_build_object(
            'code', 'lease_expired',
            'message', 'the worker running this job stopped renewing its lease'
        )
    FROM expired AS e
    WHERE j.id = e.id
    RETURNING j.id, j.type, j.queue, j.tenant_id, j.attempt, j.run_id, j.started_at,
        j.status, e.locked_by
),
runs AS (
    INSERT INTO {schema}.job_runs (
        job_id, attempt, run_id, tenant_id, worker_id, outcome, error_code, started_at
    )
    SELECT id, attempt, run_id, tenant_id, locked_by, 'lost', 'lease_expired', started_at
    FROM rescued
    ON CONFLICT (job_id, attempt) DO NOTHING
),
events AS (
    INSERT INTO {schema}.job_events (
        job_id, tenant_id, kind, from_status, to_status, attempt, error_code, message
    )
    SELECT id, tenant_id, 'transition', 'running', status, attempt, 'lease_expired',
        'lease expired'
    FROM rescued
),
notified AS MATERIALIZED (
    SELECT pg_notify(
        CASE WHEN status = 'queued' THEN %(jobs_channel)s ELSE %(outcome_channel)s END,
        CASE
            WHEN status = 'queued' THEN queue
            ELSE json_build_object(
                'jobId', id, 'type', type, 'queue', queue, 'tenantId', tenant_id,
                'status', status, 'attempt', attempt, 'errorCode', 'lease_expired'
            )::text
        END
    )
    FROM rescued
    WHERE status = 'queued' OR EXISTS (
        SELECT 1 FROM {schema}.listeners WHERE channel = 'outcomes' AND expires_at > now()
    )
)
SELECT id, status, attempt, (SELECT count(*) FROM notified) AS notified
FROM rescued
