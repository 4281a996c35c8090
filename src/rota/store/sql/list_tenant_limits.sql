-- Every tenant with its own weight or cap.
SELECT tenant_id, weight, max_running, updated_at
FROM {schema}.tenant_limits
ORDER BY tenant_id
