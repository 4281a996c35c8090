-- 0011: the wake-up NOTIFY comes from the statements that insert jobs, not from a trigger.
-- The statement trigger (0001, function rota_notify_jobs_v3 since 0008) cost every insert a
-- transition table, a PL/pgSQL call and a query over its rows: 27 us of server time of a
-- single enqueue's 170-200, 9% of its wall time. insert_job.sql, insert_jobs.sql,
-- record_tick.sql and the bulk path (notify_jobs.sql, in the COPY's transaction) send the
-- same payload themselves: the queue, followed by the new due jobs' ids when there are at
-- most 16 of them in that queue (ADR 0007). Rows inserted into jobs by hand no longer wake
-- workers at once; the workers' poll finds them.
DROP TRIGGER jobs_notify_insert ON {schema}.jobs;
DROP FUNCTION {schema}.rota_notify_jobs_v3();
