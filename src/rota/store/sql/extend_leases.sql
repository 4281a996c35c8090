-- The heartbeat: push out the leases this worker still holds and mark the worker alive.
-- Rows that do not come back were lost (rescued, cancelled by an operator or finished
-- elsewhere); the worker stops those handlers. cancel_requested tells the worker to set
-- ctx.cancelled even if it missed the NOTIFY. Uses the primary key; fenced like
-- complete_jobs.sql.
WITH worker AS (
    UPDATE {schema}.workers
    SET heartbeat_at = now()
    WHERE id = %(worker_id)s
)
UPDATE {schema}.jobs AS j
SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::uuid[], %(attempts)s::integer[]) AS h(id, attempt)
WHERE j.id = h.id
    AND j.attempt = h.attempt
    AND j.locked_by = %(worker_id)s
RETURNING j.id, j.cancel_requested
