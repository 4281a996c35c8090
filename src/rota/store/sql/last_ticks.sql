-- The latest recorded tick of each given system schedule, and the database's clock.
-- Served by the primary key of schedule_ticks.
SELECT k.schedule_key,
    (SELECT max(t.tick_at) FROM {schema}.schedule_ticks AS t
     WHERE t.schedule_key = k.schedule_key) AS last_tick_at,
    clock_timestamp() AS now
FROM unnest(%(schedule_keys)s::text[]) AS k(schedule_key)
