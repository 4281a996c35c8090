-- Fair claim, step 1: the tenants to visit next in one queue. Finds the best priority with a
-- due job, then walks tenants with queued jobs at that priority in tenant order after the
-- worker's cursor: a loose index scan on jobs_fair_claim_idx, one probe per tenant, so the
-- cost grows with the tenants visited (at most `tenant_count`), not with tenants or jobs.
-- With `lock`, each tenant is also try-locked for this transaction (transaction-level
-- advisory lock) so concurrent claimers never count the same tenant's running jobs at once;
-- a tenant another claimer holds is skipped this time.
WITH RECURSIVE top AS (
    SELECT priority
    FROM {schema}.jobs
    WHERE status = 'queued'
        AND queue = %(queue)s
        AND run_after <= now()
        AND attempt < max_attempts
    ORDER BY priority, run_after
    LIMIT 1
),
walk (tenant_key, depth) AS (
    (
        SELECT COALESCE(j.tenant_id, ''), 1
        FROM {schema}.jobs AS j
        WHERE j.status = 'queued'
            AND j.queue = %(queue)s
            AND j.priority = (SELECT priority FROM top)
            AND COALESCE(j.tenant_id, '') > %(cursor)s
        ORDER BY COALESCE(j.tenant_id, '')
        LIMIT 1
    )
    UNION ALL
    SELECT (
        SELECT COALESCE(j.tenant_id, '')
        FROM {schema}.jobs AS j
        WHERE j.status = 'queued'
            AND j.queue = %(queue)s
            AND j.priority = (SELECT priority FROM top)
            AND COALESCE(j.tenant_id, '') > w.tenant_key
        ORDER BY COALESCE(j.tenant_id, '')
        LIMIT 1
    ), w.depth + 1
    FROM walk AS w
    WHERE w.tenant_key IS NOT NULL
        AND w.depth < %(tenant_count)s
)
SELECT w.tenant_key, top.priority
FROM walk AS w, top
WHERE w.tenant_key IS NOT NULL
    AND (
        NOT %(lock)s
        OR pg_try_advisory_xact_lock(hashtextextended('rota.tenant:' || w.tenant_key, 0))
    )
ORDER BY w.depth
