-- 0006: NOTIFY job events and outcomes only while something listens for them.
-- Every claim and completion writes events; a NOTIFY at its commit takes the notification
-- queue's lock and signals every listening session of the database (workers' own LISTEN
-- connections included), which cost each claim about 0.2 ms with nobody reading. Processes
-- that read events (the API's live streams) or outcomes (App.outcomes) announce themselves
-- here and renew the row while they listen; a row that is not renewed expires.

CREATE TABLE {schema}.listeners (
    id         uuid PRIMARY KEY,
    channel    text NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT listeners_channel_check CHECK (channel IN ('events', 'outcomes'))
);

CREATE FUNCTION {schema}.rota_notify_events_v2() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    jobs integer;
    ids text;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM {schema}.listeners WHERE channel = 'events' AND expires_at > now()
    ) THEN
        RETURN NULL;
    END IF;
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

DROP TRIGGER job_events_notify_insert ON {schema}.job_events;

CREATE TRIGGER job_events_notify_insert
    AFTER INSERT ON {schema}.job_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rota_notify_events_v2();
