-- GCRA rate limit, step 1: lock one limit's row for this transaction (creating it on first
-- use) and read its theoretical arrival time with the database's clock. The caller grants
-- runs with core.limits.grant_runs() and writes the new time with set_rate.sql before its
-- transaction ends, so concurrent claimers of one limit take turns.
WITH ensured AS (
    INSERT INTO {schema}.rate_limits (key, tat)
    VALUES (%(key)s, now())
    ON CONFLICT (key) DO NOTHING
    RETURNING tat
)
SELECT COALESCE(
        (SELECT tat FROM ensured),
        (SELECT tat FROM {schema}.rate_limits WHERE key = %(key)s FOR UPDATE)
    ) AS tat,
    now() AS now
