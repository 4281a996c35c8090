-- One job by id, scoped to a tenant in the WHERE clause unless the caller is an operator.
-- The tenant test is written `(...) IS TRUE`, which means the same in a WHERE clause but is
-- no index condition: with `tenant_id = ...` the planner may read the job through
-- jobs_tenant_created_idx, every job of the tenant, when its statistics saw few of that
-- tenant's jobs (a new tenant); the primary key finds the one row.
SELECT *
FROM {schema}.jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR (tenant_id = %(tenant_id)s) IS TRUE)
