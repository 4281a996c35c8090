-- Bulk enqueue by COPY: batches with no idempotency key and no delay, due at the database's
-- now() (the column defaults), which is all COPY can express. It checks the same constraints
-- as INSERT; its wake-up NOTIFY follows in its transaction (notify_jobs.sql). Binary: the values
-- go as the server stores them (JobStore._copy names each column's type, in this order).
COPY {schema}.jobs (
    id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
    correlation_id, payload, priority, max_attempts
) FROM STDIN (FORMAT BINARY)
