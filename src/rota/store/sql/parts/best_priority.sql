-- The best priority of queue %(queue)s that has a due job, as the CTE `top` (one row, or
-- none), for the fair claim and its tenant scan. Included after `WITH RECURSIVE`, with
-- `-- part: best_priority`; the statement goes on with its next CTE.
priorities (priority, is_due) AS (
    -- The queue's priorities that have queued jobs, best first, one index probe each (a
    -- loose index scan), until one has a due job. Ordering due jobs by priority and
    -- run_after instead read every later job of a better priority (delayed jobs, retries
    -- waiting out their backoff) before reaching a due one.
    -- Whether a priority has a due job is the oldest queued job's, read in index order
    -- (ORDER BY run_after LIMIT 1), not EXISTS: for EXISTS the planner may pick a table scan
    -- that stops at the first match, betting it comes early, and it read every finished job
    -- kept ahead of the queued ones (tests/store/test_claim_backlogs.py).
    -- It starts from a row before every priority (NULL: the first probe looks from the
    -- bottom) and steps to the next priority with queued jobs until one is due.
    SELECT NULL::smallint, false
    UNION ALL
    SELECT next.priority, COALESCE((
        SELECT true
        FROM {schema}.jobs AS d
        WHERE d.status = 'queued'
            AND d.queue = %(queue)s
            AND d.priority = next.priority
            AND d.run_after <= now()
            AND d.attempt < d.max_attempts
        ORDER BY d.run_after
        LIMIT 1
    ), false)
    FROM priorities AS p
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.jobs
        WHERE status = 'queued'
            AND queue = %(queue)s
            AND priority > COALESCE(p.priority, -32768 - 1)
        ORDER BY priority
        LIMIT 1
    ) AS next
    WHERE NOT p.is_due
),
top AS (
    SELECT priority
    FROM priorities
    WHERE is_due
),
