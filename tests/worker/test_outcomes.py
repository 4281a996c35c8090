"""A real worker moves jobs through the state machine and records every transition."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
from pydantic import BaseModel

import rota
from tests.worker.helpers import running_worker, transitions, wait_status

FAST_RETRY = rota.Backoff(base=timedelta(milliseconds=10), cap=timedelta(milliseconds=50))
Conn = psycopg.AsyncConnection[Any]


class Item(BaseModel):
    n: int


async def test_success_records_result_progress_and_events(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    seen: list[rota.OutcomeEvent] = []
    app.subscribe(seen.append)

    @app.job("items.double")
    async def double(ctx: rota.JobContext, payload: Item) -> dict[str, int]:
        await ctx.progress(50, "halfway")
        return {"doubled": payload.n * 2}

    job = await app.enqueue("items.double", Item(n=21), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    assert done.result == {"doubled": 42}
    assert (done.progress, done.progress_message) == (50, "halfway")
    assert done.attempt == 1
    assert done.finished_at is not None
    assert await transitions(app, job.id) == [("queued", "running"), ("running", "succeeded")]
    assert [(e.job_id, e.name) for e in seen] == [(job.id, "Completed")]
    await app.close()


async def test_retryable_errors_retry_then_poison(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("items.flaky", max_attempts=3, backoff=FAST_RETRY)
    def flaky(ctx: rota.JobContext, payload: Item) -> None:
        raise RuntimeError(f"attempt {ctx.attempt}")

    job = await app.enqueue("items.flaky", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.POISONED)
    assert done.attempt == 3
    assert done.error is not None
    assert done.error["code"] == "handler_error"
    assert "attempt 3" in done.error["message"]
    assert "Traceback" in done.error["traceback"]
    assert await transitions(app, job.id) == [
        ("queued", "running"),
        ("running", "queued"),
        ("queued", "running"),
        ("running", "queued"),
        ("queued", "running"),
        ("running", "poisoned"),
    ]
    await app.close()


async def test_fatal_errors_fail_without_retry(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("items.fatal", max_attempts=5)
    async def fatal(ctx: rota.JobContext, payload: Item) -> None:
        raise rota.Fatal("customer is gone", code="customer_missing")

    job = await app.enqueue("items.fatal", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.FAILED)
    assert done.attempt == 1
    assert done.error is not None
    assert done.error["code"] == "customer_missing"
    assert await transitions(app, job.id) == [("queued", "running"), ("running", "failed")]
    await app.close()


async def test_invalid_payload_at_run_time_fails(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = make_app()

    @app.job("items.strict")
    async def strict(ctx: rota.JobContext, payload: Item) -> None:
        return None

    job = await app.enqueue("items.strict", Item(n=1), tenant_id="acme")
    # A row written by an older release whose payload no longer fits the model.
    await db.execute(
        "UPDATE jobs SET payload = %s::jsonb WHERE id = %s", (json.dumps({"n": "x"}), job.id)
    )
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.FAILED)
    assert done.error is not None
    assert done.error["code"] == "invalid_payload"
    await app.close()


async def test_unknown_type_at_run_time_fails(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = make_app()

    @app.job("items.known")
    async def known(ctx: rota.JobContext, payload: Item) -> None:
        return None

    job = await app.enqueue("items.known", Item(n=1), tenant_id="acme")
    await db.execute("UPDATE jobs SET type = 'items.retired' WHERE id = %s", (job.id,))
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.FAILED)
    assert done.error is not None
    assert done.error["code"] == "unknown_job_type"
    await app.close()


async def test_timeout_is_a_retryable_error(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("items.slow", max_attempts=2, timeout=0.2, backoff=FAST_RETRY)
    async def slow(ctx: rota.JobContext, payload: Item) -> None:
        import asyncio

        await asyncio.sleep(30)

    job = await app.enqueue("items.slow", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.POISONED)
    assert done.error is not None
    assert done.error["code"] == "timeout"
    assert done.attempt == 2
    await app.close()


async def test_a_timeout_ends_a_handler_that_lost_the_first_cancellation(
    make_app: Callable[..., rota.App],
) -> None:
    """On Python 3.11 a library's ``asyncio.wait_for`` can swallow a cancellation (CPython
    issue 86296): the timeout asks again until the handler ends."""
    app = make_app()
    lost: list[int] = []

    @app.job("items.stubborn", max_attempts=1, timeout=0.2)
    async def stubborn(ctx: rota.JobContext, payload: Item) -> None:
        import asyncio
        import contextlib

        with contextlib.suppress(asyncio.CancelledError):  # lost, as in the library
            await asyncio.sleep(30)
        lost.append(payload.n)
        await asyncio.sleep(30)

    job = await app.enqueue("items.stubborn", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.POISONED)
    assert lost == [1]
    assert done.error is not None
    assert done.error["code"] == "timeout"
    await app.close()


async def test_unstorable_result_fails_the_job_instead_of_sticking(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app(result_max_bytes=64)

    @app.job("items.huge")
    async def huge(ctx: rota.JobContext, payload: Item) -> str:
        return "x" * 1000

    job = await app.enqueue("items.huge", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.FAILED)
    assert done.error is not None
    assert done.error["code"] == "invalid_result"
    await app.close()


async def test_error_messages_with_nul_are_stored(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("items.nul", max_attempts=1)
    async def nul(ctx: rota.JobContext, payload: Item) -> None:
        raise ValueError("bad \x00 byte and \ud800 surrogate")

    job = await app.enqueue("items.nul", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.POISONED)
    assert done.error is not None
    assert "bad" in done.error["message"]
    await app.close()


async def test_operator_retry_requeues_with_a_fresh_budget(
    make_app: Callable[..., rota.App],
) -> None:
    app = make_app()
    calls: list[int] = []

    @app.job("items.second_time", max_attempts=1)
    async def second_time(ctx: rota.JobContext, payload: Item) -> int:
        calls.append(ctx.attempt)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        return ctx.attempt

    job = await app.enqueue("items.second_time", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        await wait_status(app, job.id, rota.JobStatus.POISONED)
        assert await app.retry(job.id) is rota.JobStatus.QUEUED
        done = await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    assert done.attempt == 2
    assert done.max_attempts == 2
    assert done.result == 2
    await app.close()


async def test_progress_from_sync_handlers(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("items.sync_progress")
    def sync_progress(ctx: rota.JobContext, payload: Item) -> None:
        ctx.progress_sync(30, "thread")

    job = await app.enqueue("items.sync_progress", Item(n=1), tenant_id="acme")
    async with running_worker(app):
        done = await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    assert done.progress == 30
    await app.close()


async def test_a_short_timeout_fires_among_many_finished_runs_with_long_ones(
    make_app: Callable[..., rota.App],
) -> None:
    """The deadlines of hundreds of finished runs (an hour away) must neither delay a later,
    shorter one nor time out anything else, however the worker keeps its run timers."""
    app = make_app()

    @app.job("items.quick", timeout=3600)
    async def quick(ctx: rota.JobContext, payload: Item) -> None:
        return None

    @app.job("items.stuck", max_attempts=1, timeout=0.3)
    async def stuck(ctx: rota.JobContext, payload: Item) -> None:
        import asyncio

        await asyncio.sleep(30)

    quick_jobs = await app.enqueue_many(
        [rota.JobRequest("items.quick", Item(n=i), tenant_id="acme") for i in range(300)]
    )
    async with running_worker(app):
        for job in quick_jobs:
            await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
        slow = await app.enqueue("items.stuck", Item(n=0), tenant_id="acme")
        more = await app.enqueue_many(
            [rota.JobRequest("items.quick", Item(n=i), tenant_id="acme") for i in range(100)]
        )
        done = await wait_status(app, slow.id, rota.JobStatus.POISONED)
        for job in more:
            await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    assert done.error is not None
    assert done.error["code"] == "timeout"
    assert done.started_at is not None
    assert done.finished_at is not None
    assert (done.finished_at - done.started_at).total_seconds() < 10
    await app.close()


async def test_each_run_times_out_at_its_own_deadline_not_another_runs(
    make_app: Callable[..., rota.App],
) -> None:
    """The worker keeps its runs' timeouts on one timer: when it fires for one run, a run in
    flight with a later deadline goes on until its own."""
    app = make_app()
    ran: dict[str, float] = {}

    async def hang(name: str) -> None:
        began = time.monotonic()
        try:
            await asyncio.Event().wait()
        finally:
            ran[name] = time.monotonic() - began

    @app.job("items.short", max_attempts=1, timeout=0.3)
    async def short(ctx: rota.JobContext, payload: Item) -> None:
        await hang("short")

    @app.job("items.long", max_attempts=1, timeout=0.9)
    async def long(ctx: rota.JobContext, payload: Item) -> None:
        await hang("long")

    long_job = await app.enqueue("items.long", Item(n=1), tenant_id="acme")
    short_job = await app.enqueue("items.short", Item(n=2), tenant_id="acme")
    async with running_worker(app):
        for job in (short_job, long_job):
            done = await wait_status(app, job.id, rota.JobStatus.POISONED)
            assert done.error is not None
            assert done.error["code"] == "timeout"
    # Not before its own timeout (give or take the loop clock's resolution).
    assert ran["short"] >= 0.3 - 0.02
    assert ran["long"] >= 0.9 - 0.02
    await app.close()
