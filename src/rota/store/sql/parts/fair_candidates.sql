-- The fair claim's candidate jobs, for claim_jobs_fair.sql (with limits) and
-- claim_jobs_fair_open.sql (without), after `-- part: best_priority` and
-- `-- part: tenant_walk`: CTEs visits, tenants, rounds and candidates (the due jobs of each
-- visited tenant, locked with SKIP LOCKED, each with its round). The statement goes on
-- with its `chosen` CTE.
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
