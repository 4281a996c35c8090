-- Jobs by queue and status, for `rota status` and the live view. The queued count comes
-- from the claim index; finished counts scan jobs, which retention keeps bounded.
-- Two parts, like list_jobs.sql: for one tenant, jobs_tenant_created_idx serves the jobs not
-- running and jobs_running_idx the running ones (ADR 0013).
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has listed every tenant a few times, cannot use the tenant's index.
SELECT queue, status, count(*) AS jobs
FROM (
    SELECT queue, status
    FROM {schema}.jobs
    WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
        AND status <> 'running'
    UNION ALL
    SELECT queue, status
    FROM {schema}.jobs
    WHERE (%(all_tenants)s OR COALESCE(tenant_id, '') = %(tenant_id)s)
        AND (%(all_tenants)s OR tenant_id = %(tenant_id)s)
        AND status = 'running'
) AS counted
GROUP BY queue, status
ORDER BY queue, status
