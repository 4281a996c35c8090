-- The database's clock: rota decides what is due by database time, never a host's.
SELECT clock_timestamp() AS now
