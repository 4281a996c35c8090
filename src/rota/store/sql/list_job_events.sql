-- A job's events in order; the tenant check joins the job so another tenant's events are
-- never returned. Served by job_events_pkey (job_id, id), and the job by its primary key (the
-- tenant test is no index condition, as in get_job.sql).
SELECT e.*
FROM {schema}.job_events AS e
JOIN {schema}.jobs AS j ON j.id = e.job_id
WHERE e.job_id = %(id)s
    AND (%(all_tenants)s OR (j.tenant_id = %(tenant_id)s) IS TRUE)
    AND e.id > %(after_id)s
ORDER BY e.id
LIMIT %(limit)s
