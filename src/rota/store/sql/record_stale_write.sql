-- Log a write that fencing rejected: a worker that lost its lease tried to end or update a
-- run. Only an event is written; the job itself is untouched.
INSERT INTO {schema}.job_events (job_id, tenant_id, kind, attempt, error_code, message)
SELECT id, tenant_id, 'stale_write', %(attempt)s, 'lease_lost', %(message)s
FROM {schema}.jobs
WHERE id = %(id)s
