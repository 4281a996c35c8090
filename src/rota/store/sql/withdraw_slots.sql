-- A stopping worker takes back every slot it offered (ADR 0012): no enqueue hands it a job
-- once this commits. An enqueue that took a slot first has committed by then (this waits for
-- its row lock), so the jobs handed off before are found by held_jobs.sql.
DELETE FROM {schema}.worker_slots
WHERE worker_id = %(worker_id)s
