        -- The values of one new job, in the column order of insert_job.sql (id through
        -- max_attempts): for insert_job.sql and insert_job_handoff.sql.
        %(id)s, %(type)s, %(queue)s, %(tenant_id)s, %(actor_id)s, %(trace_id)s, %(traceparent)s,
        %(request_id)s, %(correlation_id)s, %(idempotency_key)s, %(payload)s::jsonb,
        %(priority)s::smallint,
        COALESCE(
            %(run_after)s::timestamptz,
            now() + make_interval(secs => COALESCE(%(delay_seconds)s::float8, 0))
        ),
        %(max_attempts)s::integer
