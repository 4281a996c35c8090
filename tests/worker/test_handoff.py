"""The hand-off at enqueue (ADR 0012): an idle worker offers its free slots, and a single
enqueue of a job due now claims the job for it in the enqueue's own transaction. Never for a
delayed or keyed job, a tenant with a cap, a stopped worker or one not heard from; a job
handed to a worker that never reads it is not lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
from pydantic import BaseModel

import rota
from rota.worker.worker import Worker
from tests.support.waiting import eventually
from tests.worker.helpers import running_worker, transitions, wait_status

Conn = psycopg.AsyncConnection[Any]


class Item(BaseModel):
    n: int = 0


def build(make_app: Callable[..., rota.App], **settings: Any) -> tuple[rota.App, list[UUID]]:
    app = make_app(**settings)
    ran: list[UUID] = []

    @app.job("h.job")
    async def job(ctx: rota.JobContext, payload: Item) -> None:
        ran.append(ctx.job_id)

    return app, ran


async def offered(db: Conn, worker_id: UUID) -> int:
    cursor = await db.execute(
        "SELECT coalesce(sum(slots), 0) AS slots FROM worker_slots WHERE worker_id = %s",
        [worker_id],
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row["slots"])


@contextlib.asynccontextmanager
async def offering(app: rota.App, db: Conn, concurrency: int = 2) -> AsyncIterator[Worker]:
    """A running worker, once it has offered its free slots."""
    async with running_worker(app, concurrency=concurrency) as worker:

        async def probe() -> bool:
            return await offered(db, worker.id) > 0

        await eventually(probe)
        yield worker


async def job_row(db: Conn, job_id: UUID) -> dict[str, Any]:
    cursor = await db.execute(
        "SELECT status, attempt, locked_by, run_id FROM jobs WHERE id = %s", [job_id]
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def a_worker_row(db: Conn, *, heard_from: str = "now()", lease_seconds: float = 60) -> UUID:
    """A worker that offered one slot but runs nowhere (as after a crash)."""
    worker_id = uuid4()
    await db.execute(
        "INSERT INTO workers (id, hostname, pid, queues, concurrency, heartbeat_at) "
        f"VALUES (%s, 'gone', 1, '{{default}}', 1, {heard_from})",
        [worker_id],
    )
    await db.execute(
        "INSERT INTO worker_slots (queue, worker_id, slots, lease_seconds) "
        "VALUES ('default', %s, 1, %s)",
        [worker_id, lease_seconds],
    )
    return worker_id


async def test_an_idle_worker_is_handed_a_new_job(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, ran = build(make_app)
    async with offering(app, db) as worker:
        enqueued = await app.enqueue("h.job", Item(), tenant_id="acme")
        done = await wait_status(app, enqueued.id, rota.JobStatus.SUCCEEDED)
        assert worker.handoffs == 1
        assert worker._claimer.claims_by_id == 0
    assert ran == [enqueued.id]
    assert done.attempt == 1
    assert await transitions(app, enqueued.id) == [
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    assert await offered(db, worker.id) == 0  # taken back when the worker stopped
    await app.close()


async def test_no_hand_off_for_a_delayed_job_a_keyed_job_or_a_capped_tenant(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, ran = build(make_app)
    async with offering(app, db) as worker:
        # Set after the worker offered its slots: the enqueue itself checks the tenant.
        await app.set_tenant_limits("capped", max_running=5)
        later = await app.enqueue("h.job", Item(), tenant_id="acme", run_after=timedelta(hours=1))
        keyed = await app.enqueue("h.job", Item(), tenant_id="acme", idempotency_key="k-1")
        capped = await app.enqueue("h.job", Item(), tenant_id="capped")
        for job in (keyed, capped):  # claimed the usual way, where the cap is counted
            await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
        assert (await job_row(db, later.id))["status"] == "queued"
        assert worker.handoffs == 0
    assert sorted(ran) == sorted([keyed.id, capped.id])
    await app.close()


async def test_no_hand_off_to_a_stopped_worker_or_one_not_heard_from(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, _ = build(make_app)
    async with offering(app, db):
        pass  # a worker that offered slots, then stopped
    await a_worker_row(db, heard_from="now() - interval '1 hour'", lease_seconds=60)
    enqueued = await app.enqueue("h.job", Item(), tenant_id="acme")
    row = await job_row(db, enqueued.id)
    assert (row["status"], row["attempt"], row["locked_by"]) == ("queued", 0, None)
    await app.close()


async def test_an_enqueue_in_a_callers_transaction_is_not_handed_off(
    make_app: Callable[..., rota.App], db: Conn, postgres_url: str, schema: str
) -> None:
    app, _ = build(make_app)
    gone = await a_worker_row(db)
    async with await psycopg.AsyncConnection.connect(postgres_url) as tx:
        enqueued = await app.enqueue("h.job", Item(), tenant_id="acme", connection=tx)
    row = await job_row(db, enqueued.id)
    assert (row["status"], row["locked_by"]) == ("queued", None)
    assert await offered(db, gone) == 1  # no slot row held in the caller's transaction
    await app.close()


async def test_after_a_miss_the_hand_off_is_tried_again_a_moment_later(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, _ = build(make_app)
    missed = await app.enqueue("h.job", Item(), tenant_id="acme")  # nobody offers a slot
    gone = await a_worker_row(db)
    right_after = await app.enqueue("h.job", Item(), tenant_id="acme")
    # Within a second of a miss, single enqueues of the queue insert without trying.
    assert [(await job_row(db, j.id))["locked_by"] for j in (missed, right_after)] == [None, None]

    async def handed_off() -> bool:
        enqueued = await app.enqueue("h.job", Item(), tenant_id="acme")
        return (await job_row(db, enqueued.id))["locked_by"] == gone

    await eventually(handed_off, interval=0.2)
    await app.close()


async def test_a_job_handed_to_a_dead_worker_runs_after_its_lease(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, ran = build(make_app)
    gone = await a_worker_row(db, lease_seconds=1)
    enqueued = await app.enqueue("h.job", Item(), tenant_id="acme")
    row = await job_row(db, enqueued.id)
    assert (row["status"], row["attempt"], row["locked_by"]) == ("running", 1, gone)
    assert await offered(db, gone) == 0
    async with running_worker(app, concurrency=2):
        done = await wait_status(app, enqueued.id, rota.JobStatus.SUCCEEDED)
    assert ran == [enqueued.id]
    assert done.attempt == 2  # the rescuer counted the dead worker's attempt
    await app.close()


async def lease_to(db: Conn, job_id: UUID, worker_id: UUID) -> None:
    """What a hand-off writes, without its NOTIFY: as if the worker's LISTEN had lost it."""
    await db.execute(
        "UPDATE jobs SET status = 'running', attempt = 1, run_id = gen_random_uuid(), "
        "locked_by = %s, locked_until = now() + interval '60 seconds', started_at = now(), "
        "run_after = now() WHERE id = %s",
        [worker_id, job_id],
    )


async def test_a_hand_off_whose_notify_was_lost_is_found_at_the_next_poll(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, ran = build(make_app)
    async with offering(app, db) as worker:
        lost = await app.enqueue("h.job", Item(), tenant_id="acme", run_after=timedelta(hours=1))
        await lease_to(db, lost.id, worker.id)
        done = await wait_status(app, lost.id, rota.JobStatus.SUCCEEDED)
    assert ran == [lost.id]
    assert done.attempt == 1
    await app.close()


async def test_a_stopping_worker_hands_back_a_job_it_never_read(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app, ran = build(make_app, poll_interval_seconds=30)  # no poll finds it before the stop
    async with offering(app, db) as worker:
        lost = await app.enqueue("h.job", Item(), tenant_id="acme", run_after=timedelta(hours=1))
        await lease_to(db, lost.id, worker.id)
    row = await job_row(db, lost.id)
    assert (row["status"], row["attempt"], row["locked_by"]) == ("queued", 0, None)
    assert ran == []
    await app.close()


async def test_a_busy_worker_takes_back_its_offer(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = make_app(prefetch=0)
    gate = asyncio.Event()

    @app.job("h.gated", timeout=60)
    async def gated(ctx: rota.JobContext, payload: Item) -> None:
        await gate.wait()

    async with offering(app, db, concurrency=1) as worker:
        # Two at once: not a single enqueue, so the queue is woken and claimed the usual way.
        jobs = await app.enqueue_many(
            [rota.JobRequest("h.gated", Item(n=n), tenant_id="acme") for n in range(2)]
        )

        async def withdrawn() -> bool:
            return await offered(db, worker.id) == 0

        await eventually(withdrawn)
        single = await app.enqueue("h.gated", Item(n=3), tenant_id="acme")
        assert (await job_row(db, single.id))["status"] == "queued"  # not handed to it
        gate.set()
        for job in [*jobs, single]:
            await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    await app.close()
