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
-- part: tenant_walk
visited AS (
    SELECT w.tenant_key, w.is_due, w.step
    FROM walk AS w
    WHERE w.step > 0
)
SELECT v.tenant_key,
    v.is_due,
    v.is_due
        AND (
            NOT %(lock_tenants)s
            OR pg_try_advisory_xact_lock(hashtextextended('{schema}.tenant:' || v.tenant_key, 0))
        )
        AS is_locked
FROM visited AS v
ORDER BY v.step
