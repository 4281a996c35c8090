-- A listener stops: its rows go at once instead of expiring.
DELETE FROM {schema}.listeners WHERE id = ANY(%(ids)s::uuid[])
