-- Lock one job for an operator or tenant action (cancel, retry). The tenant check is part of
-- the WHERE clause: a job of another tenant is indistinguishable from a missing one.
SELECT *
FROM {schema}.jobs
WHERE id = %(id)s
    AND (%(all_tenants)s OR tenant_id = %(tenant_id)s)
FOR UPDATE
