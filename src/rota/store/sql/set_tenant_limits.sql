-- Set a tenant's weight and concurrency cap (NULL cap: the default applies).
INSERT INTO {schema}.tenant_limits (tenant_id, weight, max_running)
VALUES (%(tenant_id)s, %(weight)s, %(max_running)s)
ON CONFLICT (tenant_id) DO UPDATE
SET weight = excluded.weight,
    max_running = excluded.max_running,
    updated_at = now()
RETURNING *
