-- One schedule, tenant-scoped in the WHERE clause unless the caller is an operator. The tenant
-- test is no index condition, so the primary key finds the row (as in get_job.sql).
SELECT *
FROM {schema}.scheduled_jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR (tenant_id = %(tenant_id)s) IS TRUE)
