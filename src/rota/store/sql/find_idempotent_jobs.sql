-- The jobs already holding the given (tenant, type, idempotency key) triples.
-- Served by jobs_idempotency_idx.
SELECT j.id, j.tenant_id, j.type, j.idempotency_key, j.payload, j.trace_id
FROM {schema}.jobs AS j
JOIN unnest(%(tenant_ids)s::text[], %(types)s::text[], %(idempotency_keys)s::text[])
    AS k(tenant_id, type, idempotency_key)
    ON COALESCE(j.tenant_id, '') = COALESCE(k.tenant_id, '')
    AND j.type = k.type
    AND j.idempotency_key = k.idempotency_key
WHERE j.idempotency_key IS NOT NULL
