-- Every token (never its secret hash), newest first.
SELECT id, tenant_id, scopes, name, created_at, expires_at, revoked_at
FROM {schema}.api_tokens
ORDER BY created_at DESC
