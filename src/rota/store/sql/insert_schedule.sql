-- A tenant's new schedule.
INSERT INTO {schema}.scheduled_jobs (
    id, tenant_id, type, payload, kind, time_of_day, weekdays, day_of_month, cron, timezone,
    next_run_at
)
VALUES (
    %(id)s, %(tenant_id)s, %(type)s, %(payload)s::jsonb, %(kind)s, %(time_of_day)s,
    %(weekdays)s, %(day_of_month)s, %(cron)s, %(timezone)s, %(next_run_at)s
)
RETURNING *
