-- 0013: the tenant listing's index leaves out running jobs and jobs without a tenant
-- (ADR 0013). Every version of a job took an entry in jobs_tenant_created_idx: at enqueue, at
-- its claim and at its completion (neither update can be HOT), about 11,000 database
-- instructions each.
-- Running jobs: the version a claim writes lives only while the job runs, and the running
-- jobs are already indexed by tenant in jobs_running_idx. list_jobs.sql and count_jobs.sql
-- read them from there and merge them in, so a claim adds no entry here.
-- Jobs without a tenant (system jobs): one tenant's listing and counts (`tenant_id = ...`)
-- never match them; they are listed only across all tenants, which reads no index (none
-- leads with created_at). A tenant test written `tenant_id = ...` implies
-- `tenant_id IS NOT NULL`, so the planner keeps using the index for it, custom or generic
-- plan alike (tests/store/test_listing_plans.py, tests/store/test_listing_running_jobs.py).
-- Building the new index reads the table once, under this migration's lock: on a large
-- history, run it at a quiet time.
DROP INDEX {schema}.jobs_tenant_created_idx;
CREATE INDEX jobs_tenant_created_idx
    ON {schema}.jobs (tenant_id, created_at DESC, id DESC)
    WHERE tenant_id IS NOT NULL AND status <> 'running';
