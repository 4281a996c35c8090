-- The tenant walk of the fair claims (claim_jobs_fair.sql, claim_jobs_fair_open.sql) and of
-- scan_tenants.sql, after `-- part: best_priority`: the CTE walk, from the worker's cursor
-- through the tenants with queued jobs at the best priority. Skipped (no rows) when the
-- caller gives the tenants to visit (`tenants`, not NULL). The statement goes on with its
-- next CTE.
walk (tenant_key, step, due_count, is_due) AS (
    -- From the cursor (step 0, not a visit), one probe per tenant in tenant order: the next
    -- tenant with queued jobs at this priority, and whether its oldest is due. Tenants with
    -- only later jobs are walked past (they move the cursor) but not counted; the walk stops
    -- after `tenant_count` due tenants or `max_steps` probes.
    -- Whether it is due is read in index order (ORDER BY run_after LIMIT 1), not with
    -- EXISTS, which the planner may answer by a table scan (see parts/best_priority.sql).
    -- OFFSET 0 keeps both subqueries as they are written: flattened, each use of the next
    -- tenant and of is_due became a copy of its probe (three probes for the next tenant and
    -- two for is_due at every step, instead of one each).
    SELECT %(cursor)s::text, 0, 0, false
    WHERE %(tenants)s::text[] IS NULL
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
            SELECT COALESCE(
                -- A walk from the start ('') visits system jobs' tenant key, '', first: the
                -- next-tenant probe below only looks past the key it stands on.
                CASE WHEN w.step = 0 AND w.tenant_key = '' THEN (
                    SELECT ''::text
                    FROM {schema}.jobs AS s
                    WHERE s.status = 'queued'
                        AND s.queue = %(queue)s
                        AND s.priority = (SELECT priority FROM top)
                        AND COALESCE(s.tenant_id, '') = ''
                    LIMIT 1
                ) END,
                (
                    SELECT COALESCE(j.tenant_id, '')
                    FROM {schema}.jobs AS j
                    WHERE j.status = 'queued'
                        AND j.queue = %(queue)s
                        AND j.priority = (SELECT priority FROM top)
                        AND COALESCE(j.tenant_id, '') > w.tenant_key
                    ORDER BY COALESCE(j.tenant_id, '')
                    LIMIT 1
                )
            ) AS tenant_key
            OFFSET 0
        ) AS following
        OFFSET 0
    ) AS n
    WHERE w.tenant_key IS NOT NULL
        AND w.step < %(max_steps)s
        AND w.due_count < %(tenant_count)s
),
