-- A worker process says goodbye at the end of a graceful shutdown.
UPDATE {schema}.workers
SET stopped_at = now()
WHERE id = %(id)s
