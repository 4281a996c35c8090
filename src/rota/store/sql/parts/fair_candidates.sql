-- The fair claim's tenant walk and its candidate jobs, for claim_jobs_fair.sql (with limits)
-- and claim_jobs_fair_open.sql (without), after `-- part: best_priority`: CTEs walk,
-- visits, tenants, rounds and candidates (the due jobs of each visited tenant, locked with
-- SKIP LOCKED, each with its round). The statement goes on with its `chosen` CTE.
walk (tenant_key, step, due_count, is_due) AS (
    -- From the cursor (step 0, not a visit), one probe per tenant in tenant order: the next
    -- tenant with queued jobs at this priority, and whether its oldest is due. Tenants with
    -- only later jobs are walked past (they move the cursor) but not counted; the walk stops
    -- after `tenant_count` due tenants or `max_steps` probes.
    -- Whether it is due is read in index order (ORDER BY run_after LIMIT 1), not with
    -- EXISTS, which the planner may answer by a table scan (see parts/best_priority.sql).
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
),
visits AS (
    -- Tenants given by the caller (who try-locked them with scan_tenants.sql), else the walk.
    SELECT t.tenant_key, t.ord
    FROM unnest(%(tenants)s::text[]) WITH ORDINALITY AS t(tenant_key, ord)
    WHERE %(tenants)s::text[] IS NOT NULL
    UNION ALL
    SELECT w.tenant_key, w.step
    FROM walk AS w
    WHERE %(tenants)s::text[] IS NULL
        AND w.is_due
),
tenants AS (
    SELECT v.tenant_key,
        v.ord,
        COALESCE(l.weight, %(default_weight)s) AS weight,
        CASE WHEN COALESCE(l.max_running, %(default_max_running)s) IS NOT NULL THEN
            COALESCE(l.max_running, %(default_max_running)s) - (
                SELECT count(*)
                FROM {schema}.jobs AS r
                WHERE r.status = 'running'
                    AND COALESCE(r.tenant_id, '') = v.tenant_key
            )
        END AS room
    FROM visits AS v
    LEFT JOIN {schema}.tenant_limits AS l ON l.tenant_id = v.tenant_key
),
rounds AS (
    SELECT ceil(%(limit)s::numeric / greatest(sum(weight), 1))::integer AS needed
    FROM tenants
),
candidates AS (
    SELECT c.id,
        c.type,
        c.run_after,
        t.ord,
        t.tenant_key,
        ceil(
            (row_number() OVER (PARTITION BY t.tenant_key ORDER BY c.run_after))::numeric
            / t.weight
        ) AS round
    FROM tenants AS t
    CROSS JOIN rounds
    CROSS JOIN LATERAL (
        SELECT j.id, j.type, j.run_after
        FROM {schema}.jobs AS j
        WHERE j.status = 'queued'
            AND j.queue = %(queue)s
            AND j.priority = (SELECT priority FROM top)
            AND COALESCE(j.tenant_id, '') = t.tenant_key
            AND j.run_after <= now()
            AND j.attempt < j.max_attempts
            AND NOT (j.type = ANY(%(excluded_types)s::text[]))
        ORDER BY j.run_after
        LIMIT greatest(0, least(t.weight * rounds.needed, COALESCE(t.room, %(limit)s)))
        FOR UPDATE SKIP LOCKED
    ) AS c
),
