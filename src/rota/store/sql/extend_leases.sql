-- The heartbeat: push out the leases this worker still holds and mark the worker alive.
-- Rows that do not come back were lost (rescued, cancelled by an operator or finished
-- elsewhere); the worker stops those handlers. cancel_requested tells the worker to set
-- ctx.cancelled even if it missed the NOTIFY. Uses the primary key; fenced like
-- complete_jobs.sql.
-- It never waits for a row lock (SKIP LOCKED). A completion of several jobs locks their rows
-- in its own order, so a renewal that waited for them could hold one row the completion
-- wants while waiting for another it holds: a deadlock, which PostgreSQL breaks after
-- deadlock_timeout by failing one of the two (tests/store/test_fencing.py). A lease whose row
-- is locked right now (its outcome being written, an operator's cancel) and that this
-- worker holds in the statement's snapshot is reported as held, and renewed next time.
WITH worker AS (
    UPDATE {schema}.workers
    SET heartbeat_at = now()
    WHERE id = (SELECT id FROM {schema}.workers WHERE id = %(worker_id)s FOR UPDATE SKIP LOCKED)
),
given AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(attempts)s::integer[]) AS h(id, attempt)
),
held AS MATERIALIZED (
    SELECT j.id
    FROM given AS h
    JOIN {schema}.jobs AS j ON j.id = h.id
    WHERE j.attempt = h.attempt
        AND j.locked_by = %(worker_id)s
    FOR UPDATE OF j SKIP LOCKED
),
renewed AS (
    UPDATE {schema}.jobs AS j
    SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
    FROM held
    WHERE j.id = held.id
    RETURNING j.id, j.cancel_requested
),
busy AS (
    SELECT j.id, j.cancel_requested
    FROM given AS h
    JOIN {schema}.jobs AS j ON j.id = h.id
    WHERE h.id NOT IN (SELECT id FROM held)
        AND j.attempt = h.attempt
        AND j.locked_by = %(worker_id)s
)
SELECT id, cancel_requested FROM renewed
UNION ALL
SELECT id, cancel_requested FROM busy
