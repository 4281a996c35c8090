-- 0007: the wake-up NOTIFY names the jobs it announces.
-- An idle worker woken by a new job used to run its full claim (the fair walk across
-- tenants) to find the one job it was told about. When a statement adds at most 16 due jobs
-- to a queue, the payload now carries their ids after the queue name ("queue id,id,..."), so
-- an idle worker can claim exactly those by primary key (claim_jobs_by_id.sql). Larger
-- inserts keep the bare queue name, and any reader that only wants the queue takes the text
-- before the first space (queue names have no spaces).

CREATE FUNCTION {schema}.rota_notify_jobs_v2() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    q text;
    n bigint;
    ids text;
BEGIN
    FOR q, n, ids IN
        SELECT queue, count(*), string_agg(id::text, ',' ORDER BY priority, run_after)
        FROM new_rows
        WHERE run_after <= now()
        GROUP BY queue
    LOOP
        IF n <= 16 THEN
            PERFORM pg_notify(TG_TABLE_SCHEMA || '.jobs', q || ' ' || ids);
        ELSE
            PERFORM pg_notify(TG_TABLE_SCHEMA || '.jobs', q);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

DROP TRIGGER jobs_notify_insert ON {schema}.jobs;

CREATE TRIGGER jobs_notify_insert
    AFTER INSERT ON {schema}.jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.rota_notify_jobs_v2();

DROP FUNCTION {schema}.rota_notify_jobs_v1();
