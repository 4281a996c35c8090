-- Hand claimed jobs back to the queue untouched: at graceful shutdown, the jobs a worker
-- could not finish in its grace period; after a claim, jobs over a concurrency limit. The
-- attempt counted at claim is given back, and other workers are woken. A job an operator
-- asked to cancel ends cancelled instead of going back to the queue.
-- Fenced like complete_jobs.sql.
-- Rows are locked in id order first, the order the completer writes its batches in
-- (worker/completer.py): at shutdown a release can meet a completion of some of the same
-- jobs, and two statements taking shared rows in different orders can deadlock.
WITH locked AS MATERIALIZED (
    SELECT j.id
    FROM unnest(%(ids)s::uuid[], %(attempts)s::integer[]) AS r(id, attempt)
    JOIN {schema}.jobs AS j ON j.id = r.id
    WHERE j.attempt = r.attempt
        AND j.locked_by = %(worker_id)s
    ORDER BY j.id
    FOR UPDATE OF j
),
released AS (
    UPDATE {schema}.jobs AS j
    SET status = CASE WHEN j.cancel_requested THEN 'cancelled' ELSE 'queued' END,
        finished_at = CASE WHEN j.cancel_requested THEN now() END,
        cancel_requested = false,
        attempt = j.attempt - 1,
        locked_by = NULL,
        locked_until = NULL,
        started_at = NULL,
        run_after = now()
    FROM locked AS l
    WHERE j.id = l.id
    RETURNING j.id, j.queue, j.tenant_id, j.attempt, j.status
),
events AS (
    INSERT INTO {schema}.job_events (
        job_id, tenant_id, kind, from_status, to_status, attempt, message
    )
    SELECT id, tenant_id, 'transition', 'running', status, attempt, %(message)s
    FROM released
),
notified AS MATERIALIZED (
    SELECT pg_notify(%(jobs_channel)s, queue)
    FROM (SELECT DISTINCT queue FROM released WHERE status = 'queued') AS q
)
SELECT id, (SELECT count(*) FROM notified) AS notified
FROM released
