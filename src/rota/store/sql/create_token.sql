-- Store a new API token: its public id, tenant, scopes and the SHA-256 of its secret.
INSERT INTO {schema}.api_tokens (id, tenant_id, scopes, secret_hash, name, expires_at)
VALUES (%(id)s, %(tenant_id)s, %(scopes)s, %(secret_hash)s, %(name)s, %(expires_at)s)
RETURNING id, tenant_id, scopes, name, created_at, expires_at
