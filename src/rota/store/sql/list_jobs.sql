-- A page of jobs, newest first, with optional filters. Keyset pagination on
-- (created_at, id) so pages stay stable under concurrent inserts.
-- Two parts, each newest first, merged: the jobs not running, which for one tenant
-- jobs_tenant_created_idx serves, and the running ones, which jobs_running_idx serves (the
-- tenant index leaves running jobs out, so a claim adds no entry to it: ADR 0013). A status
-- filter leaves out the part it cannot match before it is planned. The filters are written
-- out in each part, each with its own ORDER BY and LIMIT: written once around the union, the
-- planner read and sorted a tenant's whole history for a page of 10 (4,006 rows of 4,006,
-- tests/store/test_listing_running_jobs.py).
-- Run unprepared, so it is planned for each call's values: the filters that do not apply
-- fold away. A prepared statement's generic plan, which PostgreSQL keeps once one session
-- has listed every tenant a few times, cannot use the tenant's index.
SELECT *
FROM (
    (
        SELECT *
        FROM {schema}.jobs
        WHERE (%(all_tenants)s OR tenant_id = %(tenant_id)s)
            AND status <> 'running'
            AND (%(status)s::text IS NULL OR %(status)s <> 'running')
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
    )
    UNION ALL
    (
        SELECT *
        FROM {schema}.jobs
        WHERE (%(all_tenants)s OR COALESCE(tenant_id, '') = %(tenant_id)s)
            AND (%(all_tenants)s OR tenant_id = %(tenant_id)s)
            AND status = 'running'
            AND (%(status)s::text IS NULL OR %(status)s = 'running')
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
    )
) AS page
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
