-- 0001: rota's tables. The {schema} marker is filled in with the configured schema name.
-- Forward-only: a released migration is never edited; changes go in a new numbered file.

CREATE TABLE {schema}.jobs (
    id               uuid PRIMARY KEY,
    type             text NOT NULL,
    queue            text NOT NULL DEFAULT 'default',
    tenant_id        text,                       -- NULL only for system jobs
    actor_id         text,
    trace_id         text,
    traceparent      text,
    request_id       text,
    correlation_id   text,
    idempotency_key  text,
    payload          jsonb NOT NULL,
    priority         smallint NOT NULL DEFAULT 0,
    run_after        timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'queued',
    attempt          integer NOT NULL DEFAULT 0,  -- counted at claim: runs started so far
    max_attempts     integer NOT NULL,
    locked_by        uuid,                        -- worker id holding the lease
    locked_until     timestamptz,                 -- lease end, database time
    run_id           uuid,                        -- the current run, new at every claim
    cancel_requested boolean NOT NULL DEFAULT false,
    progress         smallint,
    progress_message text,
    result           jsonb,
    error            jsonb,                       -- (code, message, traceback) as a JSON object
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    CONSTRAINT jobs_status_check CHECK (
        status IN ('queued', 'running', 'succeeded', 'failed', 'poisoned', 'cancelled')),
    CONSTRAINT jobs_attempt_check CHECK (attempt >= 0 AND attempt <= max_attempts),
    CONSTRAINT jobs_progress_check CHECK (progress BETWEEN 0 AND 100),
    CONSTRAINT jobs_lease_check CHECK ((status = 'running') = (locked_until IS NOT NULL))
);

-- The claim path: due queued jobs by queue, priority then age. Partial, so finished rows
-- (kept for the status API) never enter it and it stays small however long retention is.
CREATE INDEX jobs_claim_idx
    ON {schema}.jobs (queue, priority, run_after)
    WHERE status = 'queued';

-- The rescuer: running jobs whose lease ended.
CREATE INDEX jobs_lease_idx
    ON {schema}.jobs (locked_until)
    WHERE status = 'running';

-- Idempotency: one job per (tenant, type, key) among retained jobs; system jobs use ''.
-- Enqueue relies on it with INSERT ... ON CONFLICT, never on a SELECT first.
CREATE UNIQUE INDEX jobs_idempotency_idx
    ON {schema}.jobs ((COALESCE(tenant_id, '')), type, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Tenant-scoped listing, newest first (API, CLI, dashboard).
CREATE INDEX jobs_tenant_created_idx
    ON {schema}.jobs (tenant_id, created_at DESC, id DESC);

-- Retention: finished jobs by age.
CREATE INDEX jobs_finished_idx
    ON {schema}.jobs (finished_at)
    WHERE finished_at IS NOT NULL;

-- Every transition, progress report and fenced-out write, in the transaction of the change.
CREATE TABLE {schema}.job_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL,
    tenant_id   text,
    kind        text NOT NULL,   -- transition | progress | stale_write
    from_status text,
    to_status   text,
    attempt     integer NOT NULL,
    error_code  text,
    message     text,
    progress    smallint,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX job_events_job_idx ON {schema}.job_events (job_id, id);

-- Finished runs: one row per attempt that ended, written with the job's own transition.
CREATE TABLE {schema}.job_runs (
    job_id      uuid NOT NULL,
    attempt     integer NOT NULL,
    run_id      uuid NOT NULL,
    tenant_id   text,
    worker_id   uuid,
    outcome     text NOT NULL,   -- succeeded | retry | failed | poisoned | cancelled | lost
    error_code  text,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, attempt)
);

-- Worker processes: a random id per process start, never a host name.
CREATE TABLE {schema}.workers (
    id           uuid PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    queues       text[] NOT NULL,
    concurrency  integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

-- Wake idle workers when due jobs arrive. One NOTIFY per queue per statement; delivered at
-- commit, so a rolled-back enqueue wakes nobody.
CREATE FUNCTION {schema}.rota_notify_jobs_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    q text;
BEGIN
    FOR q IN SELECT DISTINCT queue FROM new_rows WHERE run_after <= now() LOOP
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.jobs', q);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_insert
    AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rota_notify_jobs_v1();
