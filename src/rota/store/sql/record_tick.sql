-- Fire one tick of a system schedule: the tick row and its job are inserted by one
-- statement, and the primary key of schedule_ticks lets exactly one scheduler win the tick.
-- A losing scheduler inserts nothing and gets no row back. The job is due at once: its
-- queue's workers are woken as by insert_job.sql.
WITH tick AS (
    INSERT INTO {schema}.schedule_ticks (schedule_key, tick_at, job_id)
    VALUES (%(schedule_key)s, %(tick_at)s, %(job_id)s)
    ON CONFLICT (schedule_key, tick_at) DO NOTHING
    RETURNING job_id
),
inserted AS (
    INSERT INTO {schema}.jobs (
        id, type, queue, payload, priority, max_attempts, correlation_id, trace_id, run_after
    )
    SELECT job_id, %(type)s, %(queue)s, %(payload)s::jsonb, %(priority)s, %(max_attempts)s,
        %(schedule_key)s, %(trace_id)s, now()
    FROM tick
    RETURNING id, queue
)
SELECT id, pg_notify(%(jobs_channel)s, queue || ' ' || id::text)
FROM inserted
