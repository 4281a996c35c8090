-- A page of jobs, newest first, with optional filters. Keyset pagination on
-- (created_at, id) so pages stay stable under concurrent inserts. With a tenant it is served
-- by jobs_tenant_created_idx.
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has listed every tenant a few times, cannot use the tenant's index.
SELECT *
FROM {schema}.jobs
WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
    AND (%(status)s::text IS NULL OR status = %(status)s)
    AND (%(type)s::text IS NULL OR type = %(type)s)
    AND (%(queue)s::text IS NULL OR queue = %(queue)s)
    AND (%(created_after)s::timestamptz IS NULL OR created_at >= %(created_after)s)
    AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s)
    AND (
        %(before_created_at)s::timestamptz IS NULL
        OR (created_at, id) < (%(before_created_at)s::timestamptz, %(before_id)s::uuid)
    )
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
