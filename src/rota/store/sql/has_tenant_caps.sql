-- Whether any tenant has its own concurrency cap (then fair claims take tenant locks).
SELECT EXISTS (
    SELECT 1 FROM {schema}.tenant_limits WHERE max_running IS NOT NULL
) AS has_caps
