-- 0003: schedules. schedule_ticks makes each tick of a system schedule happen once however
-- many schedulers run (its primary key), and outlives job retention so a pruned job can
-- never let a tick fire twice. scheduled_jobs holds tenants' own schedules.

CREATE TABLE {schema}.schedule_ticks (
    schedule_key text NOT NULL,
    tick_at      timestamptz NOT NULL,
    job_id       uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_key, tick_at)
);

CREATE TABLE {schema}.scheduled_jobs (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    kind         text NOT NULL,
    time_of_day  text,
    weekdays     smallint[] NOT NULL DEFAULT '{{}}',
    day_of_month smallint,
    cron         text,
    timezone     text NOT NULL,
    is_paused    boolean NOT NULL DEFAULT false,
    next_run_at  timestamptz NOT NULL,
    last_run_at  timestamptz,
    last_job_id  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scheduled_jobs_kind_check CHECK (kind IN ('daily', 'weekly', 'monthly', 'cron'))
);

-- The scheduler's scan: due, active schedules by time.
CREATE INDEX scheduled_jobs_due_idx
    ON {schema}.scheduled_jobs (next_run_at)
    WHERE NOT is_paused;

-- Tenant-scoped listing.
CREATE INDEX scheduled_jobs_tenant_idx
    ON {schema}.scheduled_jobs (tenant_id, created_at DESC, id DESC);
