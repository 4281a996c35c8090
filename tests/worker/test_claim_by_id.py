"""An idle worker claims the jobs a wake-up NOTIFY names by id (migration 0007); a worker
with a backlog, or a queue with limits, claims the usual way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

from pydantic import BaseModel

import rota
from tests.support.waiting import eventually
from tests.worker.helpers import running_worker, wait_status


class Item(BaseModel):
    n: int = 0


async def test_an_idle_worker_claims_announced_jobs_by_id(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    ran: list[UUID] = []

    @app.job("w.job")
    async def job(ctx: rota.JobContext, payload: Item) -> None:
        ran.append(ctx.job_id)

    async with running_worker(app, concurrency=2) as worker:
        await eventually(lambda: _true(worker.idle.is_set()))  # its first claim found nothing
        for n in range(3):
            # Two at a time: a single enqueue would be handed off instead (ADR 0012).
            pair = await app.enqueue_many(
                [rota.JobRequest("w.job", Item(n=n), tenant_id=f"t{n}") for _ in range(2)]
            )
            for enqueued in pair:
                done = await wait_status(app, enqueued.id, rota.JobStatus.SUCCEEDED)
                assert done.attempt == 1
        assert worker._claimer.claims_by_id >= 1
    assert len(ran) == 6
    await app.close()


async def test_a_worker_with_a_backlog_claims_in_order_not_by_id(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(prefetch=0)
    gate = asyncio.Event()
    started: list[int] = []

    @app.job("w.gated", timeout=60)
    async def gated(ctx: rota.JobContext, payload: Item) -> None:
        started.append(payload.n)
        await gate.wait()

    for n in range(4):  # more than the one slot: the worker's claims come back full
        await app.enqueue("w.gated", Item(n=n), tenant_id="acme")
    async with running_worker(app, concurrency=1) as worker:
        try:
            await eventually(lambda: _true(started == [0]))
            late = await app.enqueue("w.gated", Item(n=99), tenant_id="acme")  # announced by id
            gate.set()
            await wait_status(app, late.id, rota.JobStatus.SUCCEEDED)
            assert started == [0, 1, 2, 3, 99]  # the backlog first, oldest first
            assert worker._claimer.claims_by_id == 0
        finally:
            gate.set()  # lets the worker stop
    await app.close()


async def test_a_queue_with_a_rate_limit_never_claims_by_id(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()

    @app.job("w.limited", rate_limit=(100, 1.0))
    async def limited(ctx: rota.JobContext, payload: Item) -> None:
        return None

    async with running_worker(app, concurrency=2) as worker:
        await eventually(lambda: _true(worker.idle.is_set()))
        for n in range(3):
            enqueued = await app.enqueue("w.limited", Item(n=n), tenant_id="acme")
            await wait_status(app, enqueued.id, rota.JobStatus.SUCCEEDED)
        assert worker._claimer.claims_by_id == 0
    await app.close()


async def _true(value: bool) -> bool:
    return value
