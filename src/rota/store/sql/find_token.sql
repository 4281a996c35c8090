-- A token by its public id, with whether it is usable now (database time). The secret hash
-- is compared by the caller in constant time. Uses the primary key.
SELECT id, tenant_id, scopes, secret_hash, name,
    revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS is_active
FROM {schema}.api_tokens
WHERE id = %(id)s
