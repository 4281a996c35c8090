-- Wake the workers of the queues a bulk insert (copy_jobs.sql) filled, in its transaction:
-- one payload per queue, built by JobStore (the queue, then the ids when at most 16 are due).
SELECT count(pg_notify(%(jobs_channel)s, payload)) AS notified
FROM unnest(%(payloads)s::text[]) AS p(payload)
