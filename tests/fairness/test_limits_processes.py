"""Limits hold across real worker processes; a small tenant is served beside a backlog."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import rota
from tests.support import apps
from tests.support.waiting import eventually
from tests.worker.helpers import running_worker

pytestmark = pytest.mark.slow
Conn = psycopg.AsyncConnection[Any]


async def scalar(db: Conn, query: str, *params: Any) -> Any:
    row = await (await db.execute(query, params)).fetchone()
    assert row is not None
    return next(iter(row.values()))


async def test_a_tenant_cap_holds_across_three_worker_processes(
    make_app: Callable[..., rota.App], spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    app = apps.register(make_app())
    await app.set_tenant_limits("capped", max_running=2)
    for tenant in ("capped", "free"):
        await app.enqueue_many(
            [
                rota.JobRequest("test.work", apps.Work(seconds=0.3), tenant_id=tenant)
                for _ in range(24)
            ]
        )
    workers = [spawn("--concurrency", "4") for _ in range(3)]
    peaks = {"capped": 0, "free": 0}
    while await scalar(db, "SELECT count(*) FROM jobs WHERE status <> 'succeeded'"):
        rows = await (
            await db.execute(
                "SELECT tenant_id, count(*) AS n FROM jobs WHERE status = 'running' GROUP BY 1"
            )
        ).fetchall()
        for row in rows:
            peaks[row["tenant_id"]] = max(peaks[row["tenant_id"]], row["n"])
        await asyncio.sleep(0.02)  # sampling period, not a wait for an event
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await asyncio.to_thread(worker.wait, 30) == 0
    assert peaks["capped"] == 2
    assert peaks["free"] > 2
    await app.close()


async def test_a_rate_limit_holds_over_every_window(
    make_app: Callable[..., rota.App], spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    app = apps.register(make_app())
    await app.enqueue_many(
        [rota.JobRequest("test.limited", {}, tenant_id=f"t{n % 3}") for n in range(12)]
    )
    workers = [spawn("--concurrency", "4") for _ in range(2)]

    async def done() -> bool:
        return await scalar(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 12

    await eventually(done, timeout=30, interval=0.1)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await asyncio.to_thread(worker.wait, 30) == 0
    starts = [
        row["started_at"]
        for row in await (
            await db.execute("SELECT started_at FROM jobs ORDER BY started_at")
        ).fetchall()
    ]
    # test.limited allows 4 starts per second: any 5 consecutive starts span >= 1 s.
    spans = [
        (later - first).total_seconds() for first, later in zip(starts, starts[4:], strict=False)
    ]
    assert min(spans) >= 0.99
    assert (starts[-1] - starts[0]).total_seconds() < 5  # and the limit is not much slower
    await app.close()


async def test_a_small_tenant_starts_before_a_big_backlog_drains(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = make_app()

    @app.job("fair.noop")
    async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    for start in range(0, 3000, 1000):
        await app.enqueue_many(
            [
                rota.JobRequest("fair.noop", {"n": n}, tenant_id="big")
                for n in range(start, start + 1000)
            ]
        )
    small = await app.enqueue_many(
        [rota.JobRequest("fair.noop", {"n": n}, tenant_id="small") for n in range(10)]
    )
    async with running_worker(app, concurrency=8):

        async def small_done() -> bool:
            return await scalar(
                db, "SELECT count(*) FROM jobs WHERE tenant_id = 'small' AND status = 'succeeded'"
            ) == len(small)

        await eventually(small_done, timeout=30, interval=0.02)
        big_left = await scalar(
            db, "SELECT count(*) FROM jobs WHERE tenant_id = 'big' AND status = 'queued'"
        )
    assert big_left > 2500
    await app.close()
