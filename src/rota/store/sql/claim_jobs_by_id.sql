-- Claim named jobs: the ids a wake-up NOTIFY carried (migration 0007), for an idle worker
-- whose queues have no limits. One primary-key probe per id instead of the claim walk; the
-- same conditions as claim_jobs.sql (queued, due, attempts left, one of the worker's
-- queues), the same lease, attempt and transition event. Ids another worker claimed first
-- are skipped. The status test is written `(...) IS TRUE` so that no claim index (all are
-- partial on status = 'queued') can serve it: with statistics that saw nothing queued, the
-- planner read every queued job of the worker's queues through one, instead of the key.
WITH chosen AS (
    SELECT id
    FROM {schema}.jobs
    WHERE id = ANY(%(ids)s::uuid[])
        AND (status = 'queued') IS TRUE
        AND queue = ANY(%(queues)s::text[])
        AND run_after <= now()
        AND attempt < max_attempts
    ORDER BY priority, run_after
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
-- part: claim_chosen
SELECT *
FROM claimed
ORDER BY priority, run_after
