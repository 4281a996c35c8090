-- End one run that did not succeed: back to queued (retry with backoff) or to failed,
-- poisoned or cancelled. The core's next_state() chose the status; this statement only applies
-- it, fenced by (id, attempt, locked_by) like complete_jobs.sql, and writes
-- the job_runs row, the transition event and, for terminal states, the outcome NOTIFY.
WITH done AS (
    UPDATE {schema}.jobs AS j
    SET status = %(status)s,
        error = %(error)s::jsonb,
        locked_by = NULL,
        locked_until = NULL,
        cancel_requested = false,
        run_after = CASE
            WHEN %(status)s = 'queued' THEN now() + make_interval(secs => %(delay_seconds)s)
            ELSE j.run_after
        END,
        finished_at = CASE WHEN %(status)s = 'queued' THEN NULL ELSE now() END
    WHERE j.id = %(id)s
        AND j.attempt = %(attempt)s
        AND j.locked_by = %(worker_id)s
    RETURNING j.id, j.type, j.queue, j.tenant_id, j.attempt, j.run_id, j.started_at, j.status
),
runs AS (
    INSERT INTO {schema}.job_runs (
        job_id, attempt, run_id, tenant_id, worker_id, outcome, error_code, started_at
    )
    SELECT id, attempt, run_id, tenant_id, %(worker_id)s,
        CASE WHEN status = 'queued' THEN 'retry' ELSE status END,
        %(error_code)s, started_at
    FROM done
),
events AS (
    INSERT INTO {schema}.job_events (
        job_id, tenant_id, kind, from_status, to_status, attempt, error_code, message
    )
    SELECT id, tenant_id, 'transition', 'running', status, attempt, %(error_code)s, %(message)s
    FROM done
),
notified AS MATERIALIZED (
    SELECT pg_notify(
        %(outcome_channel)s,
        json_build_object(
            'jobId', id, 'type', type, 'queue', queue, 'tenantId', tenant_id,
            'status', status, 'attempt', attempt, 'errorCode', %(error_code)s
        )::text
    )
    FROM done
    WHERE status <> 'queued'
        AND EXISTS (
            SELECT 1 FROM {schema}.listeners
            WHERE channel = 'outcomes' AND expires_at > now()
        )
)
SELECT id, status, (SELECT count(*) FROM notified) AS notified
FROM done
