-- 0002: API tokens, and a NOTIFY for every statement that writes job events (live streams).

-- API tokens: only a SHA-256 of the secret is stored; the secret is shown once at creation.
-- tenant_id '*' marks an operator token.
CREATE TABLE {schema}.api_tokens (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    scopes       text[] NOT NULL,
    secret_hash  bytea NOT NULL,
    name         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_scopes_check CHECK (
        scopes <@ ARRAY['jobs:read', 'jobs:write', 'schedules:write', 'admin']::text[]
        AND cardinality(scopes) > 0
    )
);

-- One NOTIFY per statement naming the jobs whose events it wrote ('*' for big batches), so
-- an API process with one LISTEN connection can feed every live event stream it serves.
CREATE FUNCTION {schema}.rota_notify_events_v1() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    jobs integer;
    ids text;
BEGIN
    SELECT count(DISTINCT job_id), string_agg(DISTINCT job_id::text, ',')
    INTO jobs, ids
    FROM new_rows;
    IF jobs > 150 THEN
        ids := '*';
    END IF;
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.events', ids);
    RETURN NULL;
END;
$$;

CREATE TRIGGER job_events_notify_insert
    AFTER INSERT ON {schema}.job_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rota_notify_events_v1();
