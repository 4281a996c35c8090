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
-- part: tenant_walk
-- part: fair_candidates
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
-- part: claim_chosen
-- part: fair_result
