-- The best priority of queue %(queue)s that has a due job, as the CTE `top` (one row, or
-- none), for the fair claim and its tenant scan. Included after `WITH RECURSIVE`, with
-- `-- part: best_priority`; the statement goes on with its next CTE.
priorities (priority, is_due) AS (
    -- The queue's priorities that have queued jobs, best first, one index probe each (a
    -- loose index scan), until one has a due job. Ordering due jobs by priority and
    -- run_after instead read every later job of a better priority (delayed jobs, retries
    -- waiting out their backoff) before reaching a due one.
    SELECT first.priority, EXISTS (
        SELECT 1
        FROM {schema}.jobs AS d
        WHERE d.status = 'queued'
            AND d.queue = %(queue)s
            AND d.priority = first.priority
            AND d.run_after <= now()
            AND d.attempt < d.max_attempts
    )
    FROM (
        SELECT priority
        FROM {schema}.jobs
        WHERE status = 'queued'
            AND queue = %(queue)s
        ORDER BY priority
        LIMIT 1
    ) AS first
    UNION ALL
    SELECT next.priority, EXISTS (
        SELECT 1
        FROM {schema}.jobs AS d
        WHERE d.status = 'queued'
            AND d.queue = %(queue)s
            AND d.priority = next.priority
            AND d.run_after <= now()
            AND d.attempt < d.max_attempts
    )
    FROM priorities AS p
    CROSS JOIN LATERAL (
        SELECT priority
        FROM {schema}.jobs
        WHERE status = 'queued'
            AND queue = %(queue)s
            AND priority > p.priority
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
