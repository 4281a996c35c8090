-- 0004: fair claiming across tenants, and limits enforced in the database.

-- Fair claim: within a queue and priority, the next tenant after a cursor (a loose index
-- scan, one probe per tenant visited) and that tenant's due jobs oldest first. System jobs
-- (no tenant) form the tenant ''.
CREATE INDEX jobs_fair_claim_idx
    ON {schema}.jobs (queue, priority, (COALESCE(tenant_id, '')), run_after)
    WHERE status = 'queued';

-- Running jobs are counted for the caps through jobs_lease_idx (all running jobs, a set
-- bounded by the workers' concurrency): no extra index for them, so claims and completions
-- maintain fewer index entries.

-- Per-tenant weight (share of claims while backlogged) and concurrency cap; tenants without a
-- row use the defaults from settings.
CREATE TABLE {schema}.tenant_limits (
    tenant_id   text PRIMARY KEY,
    weight      integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    max_running integer CHECK (max_running >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Rate limits as GCRA: one row per limited key holds its theoretical arrival time.
CREATE TABLE {schema}.rate_limits (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);
