-- GCRA rate limit, step 2: store the limit's new theoretical arrival time (row locked by
-- lock_rate.sql in the same transaction).
UPDATE {schema}.rate_limits
SET tat = %(tat)s
WHERE key = %(key)s
