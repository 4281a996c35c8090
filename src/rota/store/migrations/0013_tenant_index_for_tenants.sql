-- 0013: the tenant listing's index holds only jobs that have a tenant (ADR 0013).
-- jobs_tenant_created_idx serves one tenant's listing and counts (`tenant_id = ...`), which
-- never match a job without a tenant: those are listed only across all tenants, which reads
-- no index (none leads with created_at). Yet every version of such a job took an entry: at
-- enqueue, at its claim and at its completion (neither update can be HOT), about 11,000
-- database instructions each. A tenant test written `tenant_id = ...` implies
-- `tenant_id IS NOT NULL`, so the planner keeps using the index for it, custom or generic
-- plan alike (tests/store/test_listing_plans.py).
-- Building the new index reads the table once, under this migration's lock: on a large
-- history, run it at a quiet time.
DROP INDEX {schema}.jobs_tenant_created_idx;
CREATE INDEX jobs_tenant_created_idx
    ON {schema}.jobs (tenant_id, created_at DESC, id DESC)
    WHERE tenant_id IS NOT NULL AND status <> 'running';
