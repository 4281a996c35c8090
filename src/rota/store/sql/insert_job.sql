-- Insert one job: insert_jobs.sql with plain parameters instead of arrays, which cost more to
-- send than the row itself. Idempotency and the wake-up as in insert_jobs.sql.
WITH inserted AS (
    INSERT INTO {schema}.jobs (
        id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
        correlation_id, idempotency_key, payload, priority, run_after, max_attempts
    )
    VALUES (
        -- part: new_job_values
    )
    ON CONFLICT ((COALESCE(tenant_id, '')), type, idempotency_key)
        WHERE idempotency_key IS NOT NULL
        DO NOTHING
    RETURNING id, queue, run_after <= now() AS due
)
SELECT id, CASE WHEN due THEN pg_notify(%(jobs_channel)s, queue || ' ' || id::text) END
FROM inserted
