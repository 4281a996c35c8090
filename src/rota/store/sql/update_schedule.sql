-- Pause, resume or change a schedule (tenant-scoped, by primary key as in get_schedule.sql).
-- The caller computed next_run_at.
UPDATE {schema}.scheduled_jobs
SET is_paused = %(is_paused)s,
    payload = %(payload)s::jsonb,
    kind = %(kind)s,
    time_of_day = %(time_of_day)s,
    weekdays = %(weekdays)s,
    day_of_month = %(day_of_month)s,
    cron = %(cron)s,
    timezone = %(timezone)s,
    next_run_at = %(next_run_at)s,
    updated_at = now()
WHERE id = %(id)s
    AND (%(all_tenants)s OR (tenant_id = %(tenant_id)s) IS TRUE)
RETURNING *
