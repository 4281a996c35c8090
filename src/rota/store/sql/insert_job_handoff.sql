-- Insert one job and hand it to an idle worker (ADR 0012): insert_job.sql for a job due now
-- without an idempotency key, run by App.enqueue while workers offer slots for its queue
-- (JobStore.insert_job). It takes a free slot an idle worker offered for the job's queue and
-- inserts the job already claimed for that worker: running, attempt 1, a run id, the worker's
-- lease and the queued -> running event, in this transaction; the worker is told on the
-- hand-off channel instead of the queue being woken. A slot counts only while its worker is
-- live (not stopped, heard from within one lease) and never for a tenant with a cap on its
-- running jobs. A slot another statement holds is skipped: the job is then queued as usual. The
-- last column tells the caller whether any worker offers a slot for the queue.
WITH offers AS (
    -- The live offers of the job's queue: the worker not stopped, and heard from within the
    -- offer's lease.
    SELECT r.worker_id
    FROM {schema}.worker_slots AS r
    JOIN {schema}.workers AS w ON w.id = r.worker_id
    WHERE r.queue = %(queue)s
        AND r.slots > 0
        AND w.stopped_at IS NULL
        AND w.heartbeat_at > now() - make_interval(secs => r.lease_seconds)
),
slot AS (
    UPDATE {schema}.worker_slots AS s
    SET slots = s.slots - 1
    FROM (
        SELECT r.queue, r.worker_id
        FROM {schema}.worker_slots AS r
        WHERE r.queue = %(queue)s
            AND r.slots > 0
            AND r.worker_id IN (SELECT worker_id FROM offers)
            AND NOT EXISTS (
                SELECT 1
                FROM {schema}.tenant_limits AS l
                WHERE l.tenant_id = %(tenant_id)s
                    AND l.max_running IS NOT NULL
            )
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    ) AS pick
    WHERE s.queue = pick.queue
        AND s.worker_id = pick.worker_id
    RETURNING s.worker_id, s.lease_seconds
),
inserted AS (
    INSERT INTO {schema}.jobs (
        id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
        correlation_id, idempotency_key, payload, priority, run_after, max_attempts,
        status, attempt, run_id, locked_by, locked_until, started_at
    )
    SELECT
        -- part: new_job_values
        ,
        CASE WHEN slot.worker_id IS NULL THEN 'queued' ELSE 'running' END,
        CASE WHEN slot.worker_id IS NULL THEN 0 ELSE 1 END,
        CASE WHEN slot.worker_id IS NOT NULL THEN gen_random_uuid() END,
        slot.worker_id,
        now() + make_interval(secs => slot.lease_seconds),
        CASE WHEN slot.worker_id IS NOT NULL THEN now() END
    FROM (VALUES (1)) AS one (n)
    LEFT JOIN slot ON true
    RETURNING id, queue, tenant_id, attempt, locked_by, run_after <= now() AS due
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt)
    SELECT id, tenant_id, 'transition', 'queued', 'running', attempt
    FROM inserted
    WHERE locked_by IS NOT NULL
)
SELECT id,
    CASE
        WHEN locked_by IS NOT NULL THEN
            pg_notify(%(handoff_channel)s, locked_by::text || ' ' || id::text)
        WHEN due THEN pg_notify(%(jobs_channel)s, queue || ' ' || id::text)
    END,
    -- Whether a worker offers a slot for the queue at all, asked only when none was taken:
    -- a slot another statement held (an enqueue, the worker renewing its offer) is no reason
    -- for the caller to stop trying the hand-off.
    locked_by IS NOT NULL OR EXISTS (SELECT 1 FROM offers) AS offered
FROM inserted
