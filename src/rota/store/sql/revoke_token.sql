-- Revoke a token; revoking twice keeps the first revocation time.
UPDATE {schema}.api_tokens
SET revoked_at = COALESCE(revoked_at, now())
WHERE id = %(id)s
RETURNING id
