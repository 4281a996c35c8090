-- Insert jobs from parallel arrays in one round trip (one row or thousands).
-- Idempotency rests on jobs_idempotency_idx and ON CONFLICT DO NOTHING: concurrent inserts of
-- one (tenant, type, key) wait on each other inside PostgreSQL and exactly one row survives.
-- Rows skipped by the conflict are looked up by find_idempotent_jobs.sql in a new statement,
-- so the lookup's snapshot sees the winner's committed row.
-- The wake-up (migration 0011): one NOTIFY per queue with new due jobs, naming them when
-- there are at most 16 (ADR 0007: an idle worker claims them by id), else the queue alone.
-- Delivered when the transaction commits, so never for jobs that were rolled back.
WITH inserted AS (
    INSERT INTO {schema}.jobs (
        id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
        correlation_id, idempotency_key, payload, priority, run_after, max_attempts
    )
    SELECT
        t.id, t.type, t.queue, t.tenant_id, t.actor_id, t.trace_id, t.traceparent, t.request_id,
        t.correlation_id, t.idempotency_key, t.payload::jsonb, t.priority,
        COALESCE(t.run_after, now() + make_interval(secs => COALESCE(t.delay_seconds, 0))),
        t.max_attempts
    FROM unnest(
        %(ids)s::uuid[], %(types)s::text[], %(queues)s::text[], %(tenant_ids)s::text[],
        %(actor_ids)s::text[], %(trace_ids)s::text[], %(traceparents)s::text[],
        %(request_ids)s::text[], %(correlation_ids)s::text[], %(idempotency_keys)s::text[],
        %(payloads)s::text[], %(priorities)s::smallint[], %(run_afters)s::timestamptz[],
        %(max_attempts)s::integer[], %(delay_seconds)s::float8[]
    ) AS t(
        id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
        correlation_id, idempotency_key, payload, priority, run_after, max_attempts, delay_seconds
    )
    ON CONFLICT ((COALESCE(tenant_id, '')), type, idempotency_key)
        WHERE idempotency_key IS NOT NULL
        DO NOTHING
    RETURNING id, queue, run_after <= now() AS due
),
notified AS MATERIALIZED (
    SELECT pg_notify(
        %(jobs_channel)s,
        CASE WHEN count(*) <= 16 THEN queue || ' ' || string_agg(id::text, ',') ELSE queue END
    )
    FROM inserted
    WHERE due
    GROUP BY queue
)
SELECT id, (SELECT count(*) FROM notified) AS notified
FROM inserted
