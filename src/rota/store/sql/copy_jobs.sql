-- Bulk enqueue by COPY: batches with no idempotency key and no delay, due at the database's
-- now() (the column defaults), which is all COPY can express. It fires the same statement
-- trigger as INSERT (the wake-up NOTIFY) and checks the same constraints. Binary: the values
-- go as the server stores them (JobStore._copy names each column's type, in this order).
COPY {schema}.jobs (
    id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
    correlation_id, payload, priority, max_attempts
) FROM STDIN (FORMAT BINARY)
