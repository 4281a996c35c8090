-- Claim the jobs of the CTE `chosen` (an `id` column, rows locked by the statement): status
-- running, the attempt counted, a new run id, the lease (holder and expiry), started_at, and
-- the queued -> running transition event. The CTEs claimed and events, for every claim
-- statement (claim_jobs.sql, claim_jobs_by_id.sql and both fair claims); the statement goes
-- on with its final SELECT from claimed.
claimed AS (
    UPDATE {schema}.jobs AS j
    SET status = 'running',
        attempt = j.attempt + 1,
        run_id = gen_random_uuid(),
        locked_by = %(worker_id)s,
        locked_until = now() + make_interval(secs => %(lease_seconds)s),
        started_at = now()
    FROM chosen AS c
    WHERE j.id = c.id
    RETURNING j.*
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt)
    SELECT id, tenant_id, 'transition', 'queued', 'running', attempt
    FROM claimed
)
