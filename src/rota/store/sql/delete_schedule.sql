-- Remove a schedule (tenant-scoped); jobs it already enqueued are kept.
DELETE FROM {schema}.scheduled_jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR tenant_id = %(tenant_id)s)
RETURNING id
