-- Cancel a queued job at once. The caller holds its row lock from lock_job.sql and saw it
-- queued, so the row is found by primary key alone: testing status = 'queued' here would let
-- the planner scan every queued job through a claim index whenever the statistics were taken
-- while none was queued (ADR 0009).
WITH cancelled AS (
    UPDATE {schema}.jobs
    SET status = 'cancelled',
        finished_at = now()
    WHERE id = %(id)s
    RETURNING id, type, queue, tenant_id, attempt
),
events AS (
    INSERT INTO {schema}.job_events (
        job_id, tenant_id, kind, from_status, to_status, attempt, message
    )
    SELECT id, tenant_id, 'transition', 'queued', 'cancelled', attempt, %(message)s
    FROM cancelled
),
notified AS MATERIALIZED (
    SELECT pg_notify(
        %(outcome_channel)s,
        json_build_object(
            'jobId', id, 'type', type, 'queue', queue, 'tenantId', tenant_id,
            'status', 'cancelled', 'attempt', attempt
        )::text
    )
    FROM cancelled
    WHERE EXISTS (
        SELECT 1 FROM {schema}.listeners WHERE channel = 'outcomes' AND expires_at > now()
    )
)
SELECT id, (SELECT count(*) FROM notified) AS notified
FROM cancelled
