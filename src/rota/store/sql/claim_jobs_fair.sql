-- Fair claim: claim up to `limit` due jobs of one queue and its best due priority, visiting
-- tenants in order after the worker's cursor (a loose index scan, one probe per tenant,
-- as in scan_tenants.sql), or the tenants the caller already chose and try-locked with
-- scan_tenants.sql when limits apply. Weighted round robin: each round takes `weight`
-- jobs per tenant
-- (oldest first), rounds repeat until `limit` is reached, so one backlogged tenant cannot
-- starve others while a lone tenant still gets a full batch.
-- Limits are counted here, in a statement that starts after scan_tenants.sql and
-- lock_types.sql took their advisory locks, so its snapshot sees every claim committed by
-- a claimer that held those locks before: a tenant's `room` is its cap minus its running
-- jobs; a capped type's room is its cap minus its running jobs, and a rate-limited type's
-- is what lock_rate.sql and core.limits.grant_runs() granted. The rest is as in claim_jobs.sql (attempt counted at
-- claim, lease, transition event). Served by jobs_fair_claim_idx and jobs_running_idx.
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
type_rooms AS (
    SELECT l.type,
        least(
            COALESCE(l.cap - (
                SELECT count(*)
                FROM {schema}.jobs AS r
                WHERE r.status = 'running'
                    AND r.type = l.type
            ), %(limit)s),
            COALESCE(l.granted, %(limit)s)
        ) AS room
    FROM unnest(%(limited_types)s::text[], %(type_caps)s::integer[], %(type_grants)s::integer[])
        AS l(type, cap, granted)
),
chosen AS (
    SELECT ranked.id
    FROM (
        SELECT c.*,
            row_number() OVER (PARTITION BY c.type ORDER BY c.round, c.ord, c.run_after)
                AS in_type,
            row_number() OVER (PARTITION BY c.type, c.tenant_key ORDER BY c.run_after)
                AS in_type_tenant
        FROM candidates AS c
    ) AS ranked
    LEFT JOIN type_rooms AS tr ON tr.type = ranked.type
    -- Per-tenant rate limits: what reserve granted each (type, tenant) pair.
    LEFT JOIN unnest(
        %(pair_types)s::text[], %(pair_tenants)s::text[], %(pair_grants)s::integer[]
    ) AS tp(type, tenant_key, room)
        ON tp.type = ranked.type AND tp.tenant_key = ranked.tenant_key
    WHERE (tr.type IS NULL OR ranked.in_type <= tr.room)
        AND (tp.type IS NULL OR ranked.in_type_tenant <= tp.room)
    ORDER BY ranked.round, ranked.ord, ranked.run_after
    LIMIT %(limit)s
),
claimed AS (
    UPDATE {schema}.jobs AS j
    SET status = 'running',
        attempt = j.attempt + 1,
        run_id = gen_random_uuid(),
        locked_by = %(worker_id)s,
        locked_until = now() + make_interval(secs => %(lease_seconds)s),
        started_at = now()
    FROM chosen AS c
    WHERE j.id = c.id
    RETURNING j.*
),
events AS (
    INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt)
    SELECT id, tenant_id, 'transition', 'queued', 'running', attempt
    FROM claimed
)
-- One row per claimed job, or a single row of NULL job columns when none was claimed: every
-- row carries where the walk stopped (the next cursor) and whether it reached the end.
SELECT claimed.*, walked.next_cursor, walked.reached_end
FROM (
    SELECT max(tenant_key) AS next_cursor, COALESCE(bool_or(tenant_key IS NULL), true) AS reached_end
    FROM walk
) AS walked
LEFT JOIN claimed ON true
ORDER BY claimed.run_after
