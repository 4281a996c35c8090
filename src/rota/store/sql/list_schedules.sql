-- A tenant's schedules (every tenant's for operators), newest first.
-- Served by scheduled_jobs_tenant_idx.
SELECT *
FROM {schema}.scheduled_jobs
WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
