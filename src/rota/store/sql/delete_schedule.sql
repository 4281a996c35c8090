-- Remove a schedule (tenant-scoped, by primary key as in get_schedule.sql); jobs it already
-- enqueued are kept.
DELETE FROM {schema}.scheduled_jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR (tenant_id = %(tenant_id)s) IS TRUE)
RETURNING id
