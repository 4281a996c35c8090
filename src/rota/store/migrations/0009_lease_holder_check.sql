-- 0009: a job has a lease holder exactly while it runs, as a constraint.
-- The statements a worker runs on its own jobs (completion, failure or retry, progress, lease
-- renewal, release) find them by primary key and fence them by holder and attempt. They used
-- to test status = 'running' as well, which lets the planner read them through
-- jobs_running_idx instead: when the table's statistics were gathered while no job ran (a
-- backlog being drained, ANALYZE after a bulk insert), it expects one running row and scans
-- the whole running set for each statement, once per row of a batch in a generic plan (a
-- completion of 45 with 2,000 jobs running: 14 ms instead of under 1). The holder alone is
-- the same test once the two cannot disagree, which this constraint makes certain; every
-- statement already sets and clears them together. Checking it reads the table once, under
-- this migration's lock.
ALTER TABLE {schema}.jobs ADD CONSTRAINT jobs_lease_holder_check
    CHECK ((status = 'running') = (locked_by IS NOT NULL));
