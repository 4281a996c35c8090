-- A tenant's schedules (every tenant's for operators), newest first.
-- Served by scheduled_jobs_tenant_idx.
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has listed every tenant a few times, cannot use the tenant's index.
SELECT *
FROM {schema}.scheduled_jobs
WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
