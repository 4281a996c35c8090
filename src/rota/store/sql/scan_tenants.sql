-- Fair claim with limits, step 1: the tenants to visit next in one queue. Finds the best
-- priority with a due job, then walks tenants with queued jobs at that priority in tenant
-- order after the worker's cursor: a loose index scan on jobs_fair_claim_idx, one probe per
-- tenant, so the cost grows with the tenants walked (at most `max_steps`), not with
-- tenants or jobs. With tenant caps (`lock_tenants`), each tenant with a due job is
-- try-locked for this transaction
-- (transaction-level advisory lock) so concurrent claimers never count the same tenant's
-- running jobs at once; a tenant another claimer holds is skipped this time. A row with a
-- NULL tenant_key means the walk reached the last tenant.
WITH RECURSIVE
-- part: best_priority
walk (tenant_key, step, due_count, is_due) AS (
    -- From the cursor (step 0, not a visit), one probe per tenant in tenant order: the next
    -- tenant with queued jobs at this priority, and whether its oldest is due. Tenants with
    -- only later jobs are walked past (they move the cursor) but not counted; the walk stops
    -- after `tenant_count` due tenants or `max_steps` probes.
    -- Whether it is due is read in index order (ORDER BY run_after LIMIT 1), not with
    -- EXISTS, which the planner may answer by a table scan (see parts/best_priority.sql).
    SELECT %(cursor)s::text, 0, 0, false
    UNION ALL
    SELECT n.tenant_key, w.step + 1, w.due_count + n.is_due::integer, n.is_due
    FROM walk AS w
    CROSS JOIN LATERAL (
        SELECT following.tenant_key, COALESCE((
            SELECT true
            FROM {schema}.jobs AS d
            WHERE d.status = 'queued'
                AND d.queue = %(queue)s
                AND d.priority = (SELECT priority FROM top)
                AND COALESCE(d.tenant_id, '') = following.tenant_key
                AND d.run_after <= now()
                AND d.attempt < d.max_attempts
            ORDER BY d.run_after
            LIMIT 1
        ), false) AS is_due
        FROM (
            SELECT (
                SELECT COALESCE(j.tenant_id, '')
                FROM {schema}.jobs AS j
                WHERE j.status = 'queued'
                    AND j.queue = %(queue)s
                    AND j.priority = (SELECT priority FROM top)
                    AND COALESCE(j.tenant_id, '') > w.tenant_key
                ORDER BY COALESCE(j.tenant_id, '')
                LIMIT 1
            ) AS tenant_key
        ) AS following
    ) AS n
    WHERE w.tenant_key IS NOT NULL
        AND w.step < %(max_steps)s
        AND w.due_count < %(tenant_count)s
)
SELECT w.tenant_key,
    w.is_due,
    w.is_due
        AND (
            NOT %(lock_tenants)s
            OR pg_try_advisory_xact_lock(hashtextextended('{schema}.tenant:' || w.tenant_key, 0))
        )
        AS is_locked
FROM walk AS w
WHERE w.step > 0
ORDER BY w.step
