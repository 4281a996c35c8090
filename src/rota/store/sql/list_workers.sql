-- Workers seen recently, newest first, with the number of jobs each holds.
SELECT w.*,
    (SELECT count(*) FROM {schema}.jobs AS j
     WHERE j.locked_by = w.id AND j.status = 'running') AS running
FROM {schema}.workers AS w
WHERE w.stopped_at IS NULL
    AND w.heartbeat_at > now() - make_interval(secs => %(seen_within_seconds)s)
ORDER BY w.started_at DESC
