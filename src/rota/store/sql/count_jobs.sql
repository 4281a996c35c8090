-- Jobs by queue and status, for `rota status` and the live view. The queued count comes
-- from the claim index; finished counts scan jobs, which retention keeps bounded.
SELECT queue, status, count(*) AS jobs
FROM {schema}.jobs
WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
GROUP BY queue, status
ORDER BY queue, status
