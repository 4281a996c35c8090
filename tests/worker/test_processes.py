"""Real worker processes: kill -9, SIGTERM, several workers draining, --processes."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rota
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
Conn = psycopg.AsyncConnection[Any]


async def scalar(db: Conn, query: str, *params: Any) -> Any:
    row = await (await db.execute(query, params)).fetchone()
    assert row is not None
    return next(iter(row.values()))


async def test_a_killed_workers_job_runs_again_and_finishes_once(
    make_app: Callable[..., rota.App], spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    app = apps.register(make_app())
    job = await app.enqueue(
        "test.work",
        apps.Work(seconds=1.5, key="effect-1"),
        tenant_id="acme",
        idempotency_key="effect-1",
    )
    victim = spawn("--concurrency", "2")

    async def started() -> bool:
        return bool(await scalar(db, "SELECT count(*) FROM exec_log WHERE phase = 'start'"))

    await eventually(started, timeout=30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    spawn("--concurrency", "2")

    async def succeeded() -> bool:
        return (await app.get_job(job.id)).status is rota.JobStatus.SUCCEEDED

    await eventually(succeeded, timeout=60)
    done = await app.get_job(job.id)
    assert done.attempt == 2
    assert await scalar(db, "SELECT count(*) FROM effects WHERE key = 'effect-1'") == 1
    assert await scalar(db, "SELECT count(*) FROM exec_log WHERE phase = 'start'") == 2
    runs = await (
        await db.execute(
            "SELECT attempt, outcome FROM job_runs WHERE job_id = %s ORDER BY attempt", (job.id,)
        )
    ).fetchall()
    assert [(r["attempt"], r["outcome"]) for r in runs] == [(1, "lost"), (2, "succeeded")]
    await app.close()


async def test_sigterm_lets_the_in_flight_job_finish_and_loses_nothing(
    make_app: Callable[..., rota.App], spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    app = apps.register(make_app())
    first = await app.enqueue("test.work", apps.Work(seconds=1.5, key="a"), tenant_id="acme")
    worker = spawn("--concurrency", "1")

    async def started() -> bool:
        return bool(await scalar(db, "SELECT count(*) FROM exec_log WHERE phase = 'start'"))

    await eventually(started, timeout=30)
    waiting = await app.enqueue("test.work", apps.Work(seconds=0, key="b"), tenant_id="acme")
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 20) == 0

    done = await app.get_job(first.id)
    assert (done.status, done.attempt) == (rota.JobStatus.SUCCEEDED, 1)
    left = await app.get_job(waiting.id)
    assert (left.status, left.attempt) == (rota.JobStatus.QUEUED, 0)
    assert await scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NOT NULL") == 1
    await app.close()


async def test_three_workers_drain_5000_jobs_each_exactly_once(
    make_app: Callable[..., rota.App],
    spawn: Callable[..., subprocess.Popen[bytes]],
    db: Conn,
) -> None:
    app = apps.register(make_app())
    total = 5000
    began = await scalar(db, "SELECT clock_timestamp()")
    workers = [spawn("--concurrency", "8") for _ in range(3)]

    async def all_listening() -> bool:
        # Every worker LISTENs before the jobs arrive, so all three wake on the first
        # enqueue: registered is not enough, and a worker that only polls could find the
        # other two done with the whole batch (jobs held ahead drain fast).
        # (A listen session's last statement is its LISTEN, or later its periodic probe.)
        listening = await scalar(
            db,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'rota-listen' AND backend_start >= %s "
            "AND (query LIKE 'LISTEN %%' OR query = 'SELECT 1')",
            began,
        )
        return listening == 3

    await eventually(all_listening, timeout=60)
    for start in range(0, total, 1000):
        await app.enqueue_many(
            [
                rota.JobRequest("test.noop", {"n": n}, tenant_id=f"t{n % 7}")
                for n in range(start, start + 1000)
            ]
        )

    async def drained() -> bool:
        return await scalar(db, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == total

    await eventually(drained, timeout=120, interval=0.2)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await asyncio.to_thread(worker.wait, 30) == 0

    claims = await (
        await db.execute(
            "SELECT job_id, count(*) AS n FROM job_events "
            "WHERE kind = 'transition' AND to_status = 'running' GROUP BY job_id"
        )
    ).fetchall()
    assert len(claims) == total
    assert {row["n"] for row in claims} == {1}
    assert await scalar(db, "SELECT count(*) FROM job_runs WHERE attempt = 1") == total
    assert await scalar(db, "SELECT max(attempt) FROM jobs") == 1
    assert await scalar(db, "SELECT count(DISTINCT worker_id) FROM job_runs") == 3
    await app.close()


async def test_processes_option_runs_and_stops_several_workers(
    spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    supervisor = spawn("--processes", "2")

    async def both_running() -> bool:
        return await scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 2

    await eventually(both_running, timeout=60)
    supervisor.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(supervisor.wait, 30) == 0
    assert await scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 0


async def test_sigterm_while_the_worker_registers_still_stops_it_cleanly(
    spawn: Callable[..., subprocess.Popen[bytes]], db: Conn, postgres_url: str, schema: str
) -> None:
    # Hold the workers table so the worker's registration waits on the lock, signal the
    # process then, and let the registration through: the signal must be the worker's
    # (a graceful stop that marks its row stopped), not the default action that ends the
    # process with its row looking alive.
    async with await psycopg.AsyncConnection.connect(postgres_url) as holder:
        await holder.execute(
            sql.SQL("LOCK TABLE {}.workers IN SHARE ROW EXCLUSIVE MODE").format(
                sql.Identifier(schema)
            )
        )
        worker = spawn("--concurrency", "1")

        async def registering() -> bool:
            return bool(
                await scalar(
                    db,
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE %s",
                    f"%INSERT INTO%{schema}%workers%",
                )
            )

        await eventually(registering, timeout=60)
        worker.send_signal(signal.SIGTERM)
        await holder.rollback()
    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert await scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NOT NULL") == 1
    assert await scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 0


async def test_three_worker_processes_fire_each_schedule_tick_once(
    spawn: Callable[..., subprocess.Popen[bytes]], db: Conn
) -> None:
    settings = {
        "ROTA_TEST_TICK_EVERY_SECOND": "1",
        "ROTA_SCHEDULE_INTERVAL_SECONDS": "0.1",
        "ROTA_SCHEDULE_GRACE_SECONDS": "30",
    }
    workers = [spawn("--concurrency", "4", **settings) for _ in range(3)]

    async def ticks() -> bool:
        return await scalar(db, "SELECT count(*) FROM schedule_ticks") >= 8

    await eventually(ticks, timeout=60, interval=0.2)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await asyncio.to_thread(worker.wait, 30) == 0

    rows = await (
        await db.execute(
            "SELECT t.tick_at, count(j.id) AS jobs FROM schedule_ticks AS t "
            "LEFT JOIN jobs AS j ON j.id = t.job_id AND j.type = 'test.tick' "
            "GROUP BY t.tick_at ORDER BY t.tick_at"
        )
    ).fetchall()
    assert {row["jobs"] for row in rows} == {1}
    gaps = {(b["tick_at"] - a["tick_at"]).total_seconds() for a, b in itertools.pairwise(rows)}
    assert gaps == {1.0}  # every second, none skipped, none twice
    assert await scalar(db, "SELECT count(*) FROM jobs WHERE type = 'test.tick'") == len(rows)
