-- Jobs by queue and status, for `rota status` and the live view. The queued count comes
-- from the claim index; finished counts scan jobs, which retention keeps bounded.
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has listed every tenant a few times, cannot use the tenant's index.
SELECT queue, status, count(*) AS jobs
FROM {schema}.jobs
WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
GROUP BY queue, status
ORDER BY queue, status
