-- Record successful runs in one statement: jobs -> succeeded, a job_runs row and a
-- transition event each, and outcome NOTIFYs, all in one transaction.
-- Fencing: a row changes only if this worker still holds that attempt's lease
-- (id, attempt, locked_by; a job has a holder only while it runs, migration 0009, so the
-- status is not tested: that would let the planner scan every running job instead of using
-- the primary key). The result lists the positions (from 1) of the completions that took;
-- the others were fenced out.
-- Rows are found by primary key in the order given, and locked in that order: the completer
-- sends its batches in id order, the order release_jobs.sql locks in, so a completion and a
-- release of some of the same jobs (at shutdown) wait for each other instead of deadlocking.
WITH input AS (
    SELECT *
    FROM unnest(%(ids)s::uuid[], %(attempts)s::integer[], %(results)s::text[])
        WITH ORDINALITY AS t(id, attempt, result, position)
),
done AS (
    UPDATE {schema}.jobs AS j
    SET status = 'succeeded',
        result = i.result::jsonb,
        locked_by = NULL,
        locked_until = NULL,
        finished_at = now()
    FROM input AS i
    WHERE j.id = i.id
        AND j.attempt = i.attempt
        AND j.locked_by = %(worker_id)s
    RETURNING j.id, j.type, j.queue, j.tenant_id, j.attempt, j.run_id, j.started_at, i.position
),
runs AS (
    INSERT INTO {schema}.job_runs (
        job_id, attempt, run_id, tenant_id, worker_id, outcome, started_at
    )
    SELECT id, attempt, run_id, tenant_id, %(worker_id)s, 'succeeded', started_at
    FROM done
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt)
    SELECT id, tenant_id, 'transition', 'running', 'succeeded', attempt
    FROM done
),
notified AS MATERIALIZED (
    -- One NOTIFY per 40 outcomes (a JSON array, well under the 8,000-byte payload limit),
    -- not one per job: NOTIFY serialises committing transactions. Only while a process
    -- announces that it reads outcomes (listeners, migration 0006).
    SELECT pg_notify(
        %(outcome_channel)s,
        json_agg(json_build_object(
            'jobId', id, 'type', type, 'queue', queue, 'tenantId', tenant_id,
            'status', 'succeeded', 'attempt', attempt
        ))::text
    )
    FROM (SELECT d.*, (row_number() OVER () - 1) / 40 AS chunk FROM done AS d) AS c
    WHERE EXISTS (
        SELECT 1 FROM {schema}.listeners WHERE channel = 'outcomes' AND expires_at > now()
    )
    GROUP BY chunk
)
SELECT position, (SELECT count(*) FROM notified) AS notified
FROM done
