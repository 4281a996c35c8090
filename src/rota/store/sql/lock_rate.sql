-- GCRA rate limit, step 1: lock one limit's row for this transaction (creating it on first
-- use) and read its theoretical arrival time with the database's clock. ON CONFLICT DO
-- UPDATE (to the same value) both locks the row and returns its latest committed version,
-- even when another claimer created it after this statement's snapshot was taken. The
-- caller grants runs with core.limits.grant_runs() and writes the new time with
-- set_rate.sql before its transaction ends, so concurrent claimers of one limit take turns.
INSERT INTO {schema}.rate_limits AS r (key, tat)
VALUES (%(key)s, now())
ON CONFLICT (key) DO UPDATE
SET tat = r.tat
RETURNING r.tat, now() AS now
