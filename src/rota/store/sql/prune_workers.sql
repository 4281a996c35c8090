-- Forget worker rows silent for longer than the retention window. Job recovery never reads
-- this table (it uses jobs.locked_until), so pruning it cannot strand a job.
DELETE FROM {schema}.workers
WHERE heartbeat_at < now() - make_interval(secs => %(older_than_seconds)s)
RETURNING id
