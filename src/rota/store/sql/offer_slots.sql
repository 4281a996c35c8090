-- An idle worker's free slots per queue, for the hand-off at enqueue (ADR 0012,
-- insert_job_handoff.sql):
-- set to the counts given (0 removes the queue's row). Enqueues take them one at a time.
WITH given AS (
    SELECT q.queue, q.slots
    FROM unnest(%(queues)s::text[], %(slots)s::integer[]) AS q(queue, slots)
),
removed AS (
    DELETE FROM {schema}.worker_slots AS s
    USING given AS g
    WHERE s.worker_id = %(worker_id)s
        AND s.queue = g.queue
        AND g.slots = 0
)
INSERT INTO {schema}.worker_slots (queue, worker_id, slots, lease_seconds)
SELECT g.queue, %(worker_id)s, g.slots, %(lease_seconds)s
FROM given AS g
WHERE g.slots > 0
ON CONFLICT (queue, worker_id) DO UPDATE
SET slots = EXCLUDED.slots,
    lease_seconds = EXCLUDED.lease_seconds
