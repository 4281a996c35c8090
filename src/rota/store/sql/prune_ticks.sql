-- Forget system schedule ticks older than the retention window, keeping each schedule's
-- latest tick (the scheduler reads it). Ticks outlive the jobs they made by this window.
DELETE FROM {schema}.schedule_ticks AS t
WHERE t.tick_at < now() - make_interval(secs => %(older_than_seconds)s)
    AND t.tick_at < (
        SELECT max(l.tick_at)
        FROM {schema}.schedule_ticks AS l
        WHERE l.schedule_key = t.schedule_key
    )
RETURNING t.schedule_key
