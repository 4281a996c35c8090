"""Jobs claimed ahead of free slots (prefetch): their leases are renewed while they wait,
a cancel request reaches them, and shutdown hands them back untouched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from pydantic import BaseModel

import rota
from rota.worker.worker import Worker
from tests.support.waiting import eventually
from tests.worker.helpers import transitions, wait_status

Conn = psycopg.AsyncConnection[Any]


class Item(BaseModel):
    n: int = 0


class Gated:
    """An app with a quick job type (its runs teach the worker that jobs are short, so it
    holds jobs ahead) and a gated one that blocks until the test opens the gate."""

    def __init__(self, app: rota.App) -> None:
        self.app = app
        self.gate = asyncio.Event()
        self.started: list[UUID] = []

        @app.job("p.quick")
        async def quick(ctx: rota.JobContext, payload: Item) -> None:
            return None

        @app.job("p.gated", timeout=60)
        async def gated(ctx: rota.JobContext, payload: Item) -> None:
            self.started.append(ctx.job_id)
            await self.gate.wait()

    async def start(self, worker: Worker, gated_jobs: int) -> list[UUID]:
        """Run ``worker`` until one gated job runs and the others are claimed and held."""
        await self.app.enqueue("p.quick", Item(), tenant_id="acme")
        jobs = [
            (await self.app.enqueue("p.gated", Item(n=n), tenant_id="acme")).id
            for n in range(gated_jobs)
        ]
        self.task = asyncio.create_task(worker.run(install_signals=False))

        async def all_claimed() -> bool:
            states = [(await self.app.get_job(job_id)).status for job_id in jobs]
            return len(self.started) == 1 and all(s is rota.JobStatus.RUNNING for s in states)

        await eventually(all_claimed)
        return jobs


async def test_held_jobs_are_claimed_ahead_and_handed_back_untouched_at_shutdown(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(prefetch=5)
    gated = Gated(app)
    worker = app.worker(concurrency=1)
    jobs = await gated.start(worker, gated_jobs=4)
    held = [job_id for job_id in jobs if job_id not in gated.started]
    assert len(held) == 3  # one slot: one runs, three wait in the worker

    worker.stop()
    for job_id in held:  # handed back before the running job is waited for
        job = await wait_status(app, job_id, rota.JobStatus.QUEUED)
        assert job.attempt == 0
        assert job.locked_by is None
    gated.gate.set()
    await asyncio.wait_for(gated.task, timeout=30)

    assert (await app.get_job(gated.started[0])).status is rota.JobStatus.SUCCEEDED
    assert gated.started == [gated.started[0]]  # no held job was started while stopping
    assert await transitions(app, held[0]) == [("queued", "running"), ("running", "queued")]
    await app.close()


async def test_held_jobs_keep_their_leases_renewed(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = make_app(prefetch=5, lease_seconds=1.5)
    gated = Gated(app)
    worker = app.worker(concurrency=1)
    jobs = await gated.start(worker, gated_jobs=2)
    held = next(job_id for job_id in jobs if job_id not in gated.started)
    first = (await app.get_job(held)).locked_until
    assert first is not None

    async def renewed_past_the_first_lease() -> bool:
        cursor = await db.execute(
            "SELECT locked_until > %s + interval '1.5 seconds' AS later, attempt "
            "FROM jobs WHERE id = %s",
            (first, held),
        )
        row = await cursor.fetchone()
        assert row is not None
        assert row["attempt"] == 1
        return bool(row["later"])

    await eventually(renewed_past_the_first_lease, timeout=15)
    gated.gate.set()
    assert (await wait_status(app, held, rota.JobStatus.SUCCEEDED)).attempt == 1
    worker.stop()
    await asyncio.wait_for(gated.task, timeout=30)
    await app.close()


async def test_a_held_job_cancelled_before_it_starts_ends_cancelled_without_running(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(prefetch=5)
    gated = Gated(app)
    worker = app.worker(concurrency=1)
    jobs = await gated.start(worker, gated_jobs=2)
    held = next(job_id for job_id in jobs if job_id not in gated.started)

    assert await app.cancel(held) is rota.JobStatus.RUNNING  # claimed, so "running"

    async def noticed() -> bool:
        return held in worker._held_cancelled

    await eventually(noticed)
    gated.gate.set()
    done = await wait_status(app, held, rota.JobStatus.CANCELLED)
    assert held not in gated.started
    assert done.attempt == 1
    worker.stop()
    await asyncio.wait_for(gated.task, timeout=30)
    await app.close()


async def test_prefetch_zero_claims_only_for_free_slots(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(prefetch=0)
    gated = Gated(app)
    worker = app.worker(concurrency=1)
    await app.enqueue("p.quick", Item(), tenant_id="acme")
    jobs = [(await app.enqueue("p.gated", Item(n=n), tenant_id="acme")).id for n in range(3)]
    gated.task = asyncio.create_task(worker.run(install_signals=False))

    async def one_started() -> bool:
        return len(gated.started) == 1

    await eventually(one_started)
    statuses = sorted([(await app.get_job(job_id)).status.value for job_id in jobs])
    assert statuses == ["queued", "queued", "running"]
    gated.gate.set()
    for job_id in jobs:
        await wait_status(app, job_id, rota.JobStatus.SUCCEEDED)
    worker.stop()
    await asyncio.wait_for(gated.task, timeout=30)
    await app.close()


async def test_renewals_racing_completions_report_no_lost_leases(
    make_app: Callable[..., rota.App], caplog: pytest.LogCaptureFixture
) -> None:
    """A renewal that misses a job because its success was just committed is no lost lease:
    with renewals every 20 ms during a drain, no handler is stopped and every job succeeds
    on its first attempt. (Renewals that waited for the rows a completion held deadlocked
    with it now and then; see extend_leases.sql.)"""
    app = make_app(heartbeat_seconds=0.02)

    @app.job("p.tiny")
    async def tiny(ctx: rota.JobContext, payload: Item) -> None:
        await asyncio.sleep(0)

    await app.enqueue_many(
        [rota.JobRequest("p.tiny", Item(n=n), tenant_id="acme") for n in range(3000)]
    )
    with caplog.at_level(logging.WARNING, logger="rota.worker"):
        assert await app.worker(concurrency=10).drain() == 3000
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in warnings if "lease lost" in m], warnings
    async with await psycopg.AsyncConnection.connect(app.database_url()) as conn:
        cursor = await conn.execute(
            sql.SQL("SELECT status, max(attempt), count(*) FROM {}.jobs GROUP BY status").format(
                sql.Identifier(app.settings.schema_name)
            )
        )
        assert await cursor.fetchall() == [("succeeded", 1, 3000)]
    await app.close()
