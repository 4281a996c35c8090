-- One schedule, tenant-scoped in the WHERE clause unless the caller is an operator.
SELECT *
FROM {schema}.scheduled_jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR tenant_id = %(tenant_id)s)
