-- A process that listens for job events or outcomes says so (and renews it while it listens),
-- so statements send those NOTIFYs only while someone reads them (migration 0006). Rows left
-- by processes that stopped without saying so are removed once expired.
WITH expired AS (
    DELETE FROM {schema}.listeners
    WHERE expires_at < now() AND id <> ALL(%(ids)s::uuid[])
)
INSERT INTO {schema}.listeners (id, channel, expires_at)
SELECT l.id, l.channel, now() + make_interval(secs => %(ttl_seconds)s)
FROM unnest(%(ids)s::uuid[], %(channels)s::text[]) AS l(id, channel)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
