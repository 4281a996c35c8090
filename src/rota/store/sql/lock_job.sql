-- Lock one job for an operator or tenant action (cancel, retry). The tenant check is part of
-- the WHERE clause: a job of another tenant is indistinguishable from a missing one. As in
-- get_job.sql, the tenant test is no index condition, so the primary key finds the row.
SELECT *
FROM {schema}.jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR (tenant_id = %(tenant_id)s) IS TRUE)
FOR UPDATE
