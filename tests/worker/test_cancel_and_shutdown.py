"""Cancellation, LISTEN wake-up, graceful shutdown and per-type concurrency, in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

import rota
from tests.support.waiting import eventually
from tests.worker.helpers import running_worker, transitions, wait_status

Conn = psycopg.AsyncConnection[Any]


class Item(BaseModel):
    n: int = 0


async def test_cancelling_a_queued_job_ends_it_at_once(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()

    @app.job("c.never")
    async def never(ctx: rota.JobContext, payload: Item) -> None:
        raise AssertionError("a cancelled job must not run")

    job = await app.enqueue("c.never", Item(), tenant_id="acme")
    assert await app.cancel(job.id) is rota.JobStatus.CANCELLED
    assert await app.worker().drain() == 0
    done = await app.get_job(job.id)
    assert done.status is rota.JobStatus.CANCELLED
    assert done.attempt == 0
    with pytest.raises(rota.InvalidState):
        await app.cancel(job.id)
    await app.close()


async def test_cancelling_a_running_job_sets_ctx_cancelled(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    started = asyncio.Event()

    @app.job("c.loop", timeout=60)
    async def loop(ctx: rota.JobContext, payload: Item) -> None:
        started.set()
        while True:
            ctx.raise_if_cancelled()
            await asyncio.sleep(0.01)

    job = await app.enqueue("c.loop", Item(), tenant_id="acme")
    async with running_worker(app):
        await asyncio.wait_for(started.wait(), 10)
        assert await app.cancel(job.id) is rota.JobStatus.RUNNING
        done = await wait_status(app, job.id, rota.JobStatus.CANCELLED)
    assert done.error is not None
    assert done.error["code"] == "cancelled"
    assert ("running", "cancelled") in await transitions(app, job.id)
    await app.close()


async def test_a_handler_ignoring_cancel_ends_cancelled_at_its_timeout(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    started = asyncio.Event()

    @app.job("c.stubborn", timeout=1.0, max_attempts=5)
    async def stubborn(ctx: rota.JobContext, payload: Item) -> None:
        started.set()
        await asyncio.sleep(60)

    job = await app.enqueue("c.stubborn", Item(), tenant_id="acme")
    async with running_worker(app):
        await asyncio.wait_for(started.wait(), 10)
        await app.cancel(job.id)
        done = await wait_status(app, job.id, rota.JobStatus.CANCELLED)
    assert done.attempt == 1
    await app.close()


async def test_idle_worker_wakes_on_notify_well_before_the_poll_interval(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = make_app(poll_interval_seconds=30)

    @app.job("c.ping")
    async def ping(ctx: rota.JobContext, payload: Item) -> None:
        return None

    async with running_worker(app) as worker:
        # The worker's first claim found nothing; it now waits for a NOTIFY or the poll.
        await asyncio.wait_for(worker.idle.wait(), 10)
        begin = time.monotonic()
        job = await app.enqueue("c.ping", Item(), tenant_id="acme")
        await wait_status(app, job.id, rota.JobStatus.SUCCEEDED, timeout=20)
        elapsed = time.monotonic() - begin
    row = await (
        await db.execute(
            "SELECT started_at - created_at AS latency FROM jobs WHERE id = %s", (job.id,)
        )
    ).fetchone()
    assert row is not None
    # Woken by NOTIFY, not by the 30 s poll.
    assert row["latency"].total_seconds() < 3
    assert elapsed < 5
    await app.close()


async def test_graceful_stop_lets_in_flight_jobs_finish(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(shutdown_grace_seconds=10)
    started = asyncio.Event()

    @app.job("c.short")
    async def short(ctx: rota.JobContext, payload: Item) -> str:
        started.set()
        await asyncio.sleep(0.5)
        return "done"

    job = await app.enqueue("c.short", Item(), tenant_id="acme")
    async with running_worker(app):
        await asyncio.wait_for(started.wait(), 10)
    done = await app.get_job(job.id)
    assert done.status is rota.JobStatus.SUCCEEDED
    await app.close()


async def test_jobs_past_the_grace_period_are_released_untouched(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(shutdown_grace_seconds=0.3)
    started = asyncio.Event()

    @app.job("c.long", timeout=120)
    async def long(ctx: rota.JobContext, payload: Item) -> None:
        started.set()
        await asyncio.sleep(60)

    job = await app.enqueue("c.long", Item(), tenant_id="acme")
    async with running_worker(app):
        await asyncio.wait_for(started.wait(), 10)
    released = await app.get_job(job.id)
    assert released.status is rota.JobStatus.QUEUED
    assert released.attempt == 0  # the claim's attempt is given back
    assert released.locked_by is None
    assert (await transitions(app, job.id))[-1] == ("running", "queued")
    await app.close()


async def test_a_finished_job_whose_outcome_is_still_being_written_is_not_handed_back(
    make_app: Callable[..., rota.App], postgres_url: str
) -> None:
    """At the end of the grace period a job whose handler has returned, but whose success is
    not written yet (here: the completion waits for a lock on job_runs), is left to finish
    its write; only the job whose handler still runs goes back to the queue."""
    app = make_app(shutdown_grace_seconds=0.3, concurrency=2)
    long_started, quick_returned = asyncio.Event(), asyncio.Event()
    quick_calls: list[int] = []

    @app.job("c.long", timeout=120)
    async def long(ctx: rota.JobContext, payload: Item) -> None:
        long_started.set()
        await asyncio.sleep(60)

    @app.job("c.quick")
    async def quick(ctx: rota.JobContext, payload: Item) -> str:
        quick_calls.append(ctx.attempt)
        quick_returned.set()
        return "done"

    schema = app.settings.schema_name
    long_job = await app.enqueue("c.long", Item(), tenant_id="acme")
    async with await psycopg.AsyncConnection.connect(postgres_url) as blocker:
        # Completions insert into job_runs; a release does not touch it.
        await blocker.execute(
            psycopg.sql.SQL("LOCK TABLE {}.job_runs IN SHARE MODE").format(
                psycopg.sql.Identifier(schema)
            )
        )
        async with running_worker(app) as worker:
            await asyncio.wait_for(long_started.wait(), 10)
            quick_job = await app.enqueue("c.quick", Item(), tenant_id="acme")
            await asyncio.wait_for(quick_returned.wait(), 10)
            worker.stop()
            # The grace period ends with c.long running: it is handed back at once...
            await wait_status(app, long_job.id, rota.JobStatus.QUEUED)
            # ...while c.quick's write still waits; let it through.
            await blocker.rollback()
    done = await app.get_job(quick_job.id)
    assert (done.status, done.attempt, done.result) == (rota.JobStatus.SUCCEEDED, 1, "done")
    assert quick_calls == [1]
    released = await app.get_job(long_job.id)
    assert (released.status, released.attempt) == (rota.JobStatus.QUEUED, 0)
    await app.close()


async def test_per_type_concurrency_is_never_exceeded(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    active = 0
    peak = 0

    @app.job("c.capped", concurrency=2)
    async def capped(ctx: rota.JobContext, payload: Item) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    jobs = await app.enqueue_many(
        [rota.JobRequest("c.capped", Item(n=n), tenant_id="acme") for n in range(20)]
    )
    async with running_worker(app, concurrency=10):

        async def all_done() -> bool:
            rows = await app.count_jobs()
            return sum(r["jobs"] for r in rows if r["status"] == "succeeded") == len(jobs)

        await eventually(all_done, timeout=20)
    assert peak == 2
    await app.close()


async def test_outcomes_are_published_over_listen(make_app: Callable[..., rota.App]) -> None:
    app = make_app()
    watcher = make_app()

    @app.job("c.observed", max_attempts=1)
    async def observed(ctx: rota.JobContext, payload: Item) -> None:
        if payload.n:
            raise RuntimeError("boom")

    received: list[rota.OutcomeEvent] = []

    listening = asyncio.Event()

    async def watch() -> None:
        async for event in watcher.outcomes(ready=listening):
            received.append(event)
            if len(received) == 2:
                return

    watching = asyncio.create_task(watch())
    await asyncio.wait_for(listening.wait(), 10)
    ok = await app.enqueue("c.observed", Item(n=0), tenant_id="acme")
    bad = await app.enqueue("c.observed", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        await asyncio.wait_for(watching, 20)
    names = {event.job_id: event.name for event in received}
    assert names == {ok.id: "Completed", bad.id: "Poisoned"}
    await app.close()
    await watcher.close()


async def test_drain_runs_every_due_job_once(make_app: Callable[..., rota.App]) -> None:
    app = make_app()
    runs: list[int] = []

    @app.job("c.count")
    async def count(ctx: rota.JobContext, payload: Item) -> None:
        runs.append(payload.n)

    await app.enqueue_many(
        [rota.JobRequest("c.count", Item(n=n), tenant_id="acme") for n in range(300)]
    )
    assert await app.worker(concurrency=20).drain() == 300
    assert sorted(runs) == list(range(300))
    await app.close()


async def test_per_queue_concurrency_is_never_exceeded(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    app.queue("narrow", concurrency=3)
    active = 0
    peak = 0

    async def body() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    @app.job("c.narrow_a", queue="narrow")
    async def narrow_a(ctx: rota.JobContext, payload: Item) -> None:
        await body()

    @app.job("c.narrow_b", queue="narrow")
    async def narrow_b(ctx: rota.JobContext, payload: Item) -> None:
        await body()

    await app.enqueue_many(
        [rota.JobRequest(f"c.narrow_{'ab'[n % 2]}", Item(n=n), tenant_id="acme") for n in range(24)]
    )
    async with running_worker(app, concurrency=10):

        async def all_done() -> bool:
            rows = await app.count_jobs()
            return sum(r["jobs"] for r in rows if r["status"] == "succeeded") == 24

        await eventually(all_done, timeout=20)
    assert peak == 3
    await app.close()


async def test_an_unexpected_claim_error_does_not_end_the_worker(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()

    @app.job("c.after_error")
    async def after_error(ctx: rota.JobContext, payload: Item) -> str:
        return "ran"

    async with running_worker(app) as worker:
        await asyncio.wait_for(worker.idle.wait(), 10)  # its first claim found nothing
        claimer = worker._claimer
        original = claimer.claim
        failures = []

        async def flaky_claim(*args: Any, **kwargs: Any) -> Any:
            if not failures:
                failures.append(1)
                raise RuntimeError("a bug in the claim path")
            return await original(*args, **kwargs)

        claimer.claim = flaky_claim  # type: ignore[method-assign]
        job = await app.enqueue("c.after_error", Item(), tenant_id="acme")
        done = await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    assert failures == [1]
    assert done.result == "ran"
    await app.close()


async def test_a_run_cancelled_before_its_first_step_still_frees_its_slot(
    make_app: Callable[..., rota.App],
) -> None:
    # A run's bookkeeping (its slot, its entry among the leases renewed) ends inside its task,
    # at the end of Worker._run_job. A task cancelled before its first step never enters it:
    # here its lease is lost in the same loop step that started it.
    app = make_app()
    calls: list[int] = []

    @app.job("c.late")
    async def late(ctx: rota.JobContext, payload: Item) -> None:
        calls.append(payload.n)

    await app.enqueue("c.late", Item(n=1), tenant_id="acme")
    worker = app.worker(concurrency=1)
    [job] = await app.jobs_store().claim_jobs(
        worker_id=worker.id, queues=["default"], excluded_types=[], limit=1, lease_seconds=30
    )
    worker._loop = asyncio.get_running_loop()
    worker._start_job(job, app.registry.get("c.late"))
    [running] = worker._running.values()
    worker._on_lease_lost(job.id, job.attempt)
    await asyncio.wait([running.task])
    assert running.task.cancelled()
    assert calls == []
    assert (worker._busy, worker._running, worker.held_leases()) == (0, {}, {})
    await app.close()
