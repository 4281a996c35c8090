-- Ask the worker running a job to stop: the flag survives a missed NOTIFY (the heartbeat
-- reads it back) and the NOTIFY on the control channel makes it prompt.
WITH requested AS (
    UPDATE {schema}.jobs
    SET cancel_requested = true
    WHERE id = %(id)s
        AND locked_by IS NOT NULL  -- running (migration 0009), by the primary key
    RETURNING id, tenant_id, attempt
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, attempt, message)
    SELECT id, tenant_id, 'cancel_requested', attempt, %(message)s
    FROM requested
),
notified AS MATERIALIZED (
    SELECT pg_notify(%(control_channel)s, 'cancel:' || id::text)
    FROM requested
)
SELECT id, (SELECT count(*) FROM notified) AS notified
FROM requested
