-- Per tenant: queued depth, running count and the age of its oldest due queued job, for
-- operators (API, CLI, metrics). Scans the queued and running partial indexes only.
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has asked for every tenant a few times, cannot use the running index by tenant.
SELECT COALESCE(tenant_id, '') AS tenant_id,
    count(*) FILTER (WHERE status = 'queued') AS queued,
    count(*) FILTER (WHERE status = 'running') AS running,
    COALESCE(
        extract(epoch FROM now() - min(run_after) FILTER (
            WHERE status = 'queued' AND run_after <= now()
        )),
        0
    )::float8 AS oldest_queued_seconds
FROM {schema}.jobs
WHERE status IN ('queued', 'running')
    AND (%(tenant_id)s::text IS NULL OR COALESCE(tenant_id, '') = %(tenant_id)s)
GROUP BY COALESCE(tenant_id, '')
ORDER BY queued DESC, tenant_id
LIMIT %(limit)s
