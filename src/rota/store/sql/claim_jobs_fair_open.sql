-- Fair claim without limits: claim_jobs_fair.sql for a claim with no global type cap and no
-- rate limit (tenant caps, which the tenants' `room` counts, still apply). With nothing to
-- count per type, the chosen jobs are the candidates in round, tenant and age order; leaving
-- out the per-type counting (two window functions and two joins) takes 4-10 us of the
-- database's CPU off each claimed job. Same walk, candidates and claim as claim_jobs_fair.sql
-- (the shared parts), so both choose the same jobs when no limit applies.
WITH RECURSIVE
-- part: best_priority
-- part: tenant_walk
-- part: fair_candidates
chosen AS (
    SELECT c.id
    FROM candidates AS c
    ORDER BY c.round, c.ord, c.run_after
    LIMIT %(limit)s
),
-- part: claim_chosen
-- part: fair_result
