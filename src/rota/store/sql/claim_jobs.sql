-- Claim up to `limit` due jobs of the given queues for one worker: in each queue those of
-- its best (lowest-numbered) priority with a due job, then across queues by priority and
-- oldest run_after. One LATERAL index scan of jobs_claim_idx per queue, each stopping after
-- `limit` rows: `queue = ANY(...)` in one scan could not use the index's order and sorted
-- the whole queue (ADR 0001).
-- FOR UPDATE SKIP LOCKED lets any number of workers claim at once without blocking or
-- double-claiming. The attempt is counted here, at claim, so a handler that kills its process
-- still uses up its attempts. attempt < max_attempts sits before the LIMIT so a row that can
-- never run cannot take a slot. The claim transaction ends with this statement: no
-- transaction stays open while handlers run.
WITH RECURSIVE priorities (queue, priority, is_due) AS (
    -- Per queue, its priorities that have queued jobs, best first, one index probe each (a
    -- loose index scan), until one has a due job: the claim takes jobs of that priority
    -- only (the worker claims again for the next when this one had too few). Ordering due
    -- jobs by priority and run_after in one scan instead read every later job of a better
    -- priority (delayed jobs, retries waiting out their backoff) first.
    -- Whether a priority has a due job is the oldest queued job's, read in index order
    -- (ORDER BY run_after LIMIT 1), not EXISTS: for EXISTS the planner may pick a table scan
    -- that stops at the first match, betting it comes early, and it read every finished job
    -- kept ahead of the queued ones (tests/store/test_claim_backlogs.py).
    -- It starts from a row per queue before every priority (NULL: the first probe looks
    -- from the bottom) and steps to the next priority with queued jobs until one is due.
    SELECT q.queue, NULL::smallint, false
    FROM unnest(%(queues)s::text[]) AS q(queue)
    UNION ALL
    SELECT p.queue, next.priority, COALESCE((
        SELECT true
        FROM {schema}.jobs AS d
        WHERE d.status = 'queued'
            AND d.queue = p.queue
            AND d.priority = next.priority
            AND d.run_after <= now()
            AND d.attempt < d.max_attempts
            AND NOT (d.type = ANY(%(excluded_types)s::text[]))
        ORDER BY d.run_after
        LIMIT 1
    ), false)
    FROM priorities AS p
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.jobs
        WHERE status = 'queued'
            AND queue = p.queue
            AND priority > COALESCE(p.priority, -32768 - 1)
        ORDER BY priority
        LIMIT 1
    ) AS next
    WHERE NOT p.is_due
),
chosen AS (
    SELECT c.id
    FROM priorities AS p
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after
        FROM {schema}.jobs
        WHERE status = 'queued'
            AND queue = p.queue
            AND priority = p.priority
            AND run_after <= now()
            AND attempt < max_attempts
            AND NOT (type = ANY(%(excluded_types)s::text[]))
        ORDER BY run_after
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE p.is_due
    ORDER BY c.priority, c.run_after
    LIMIT %(limit)s
),
-- part: claim_chosen
SELECT *
FROM claimed
ORDER BY priority, run_after
