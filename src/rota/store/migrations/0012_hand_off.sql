-- 0012: an idle worker's free slots, for the hand-off at enqueue (ADR 0012). A worker whose
-- claim found a queue drained registers the room it has for that queue; a single enqueue of a
-- job due now takes one slot (FOR UPDATE SKIP LOCKED) and inserts the job already claimed for
-- that worker, with the worker's lease, and tells it on the hand-off channel. A registration
-- counts only while its worker is live: not stopped, and heard from within one lease.
CREATE TABLE {schema}.worker_slots (
    queue         text NOT NULL,
    worker_id     uuid NOT NULL REFERENCES {schema}.workers (id) ON DELETE CASCADE,
    slots         integer NOT NULL CHECK (slots >= 0),
    lease_seconds double precision NOT NULL CHECK (lease_seconds > 0),
    PRIMARY KEY (queue, worker_id)
);
