-- Fair claim with global per-type caps: try-lock the capped types for this transaction, so
-- that one claimer at a time counts a type's running jobs. Returns the types locked.
SELECT t.type
FROM unnest(%(types)s::text[]) AS t(type)
WHERE pg_try_advisory_xact_lock(hashtextextended('{schema}.type:' || t.type, 0))
