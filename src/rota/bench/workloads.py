"""W1 enqueue (single and batch), W2 drain with worker processes, W3 enqueue-to-start
latency: the workloads of the peer benchmark, run with rota's public API and real worker.

Each workload returns a dict of figures. W2 and W3 start worker processes (spawn) that
build their App and worker, report ready and are released together; W2's clock stops when
the database shows no unfinished job.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import sql

import rota
from rota.config import Settings
from rota.core import loops
from rota.worker.heap import settle_worker_heap

JOB_TYPE = "bench.noop"


@dataclass(frozen=True)
class BenchConfig:
    dsn: str
    schema: str = "rota"
    concurrency: int = 10
    settings: tuple[tuple[str, Any], ...] = ()


def make_app(config: BenchConfig, on_job: Callable[[int], None] | None = None) -> rota.App:
    app = rota.App(
        config.dsn,
        schema_name=config.schema,
        concurrency=config.concurrency,
        log_level="WARNING",
        **dict(config.settings),
    )

    @app.job(JOB_TYPE)
    async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        if on_job is not None:
            on_job(int(payload.get("i", -1)))

    return app


def requests(start: int, count: int) -> list[rota.JobRequest]:
    return [
        rota.JobRequest(JOB_TYPE, {"i": i}, tenant_id="bench") for i in range(start, start + count)
    ]


async def w1(config: BenchConfig, n: int, batch: int) -> dict[str, Any]:
    """Enqueue ``n`` jobs: one per call (``batch`` 1) or ``n / batch`` bulk calls."""
    app = make_app(config)
    app.migrate()
    await app.enqueue("bench.noop", {"i": -1}, tenant_id="warm-up")  # opens the pool
    begin = time.perf_counter()
    if batch <= 1:
        for i in range(n):
            await app.enqueue(JOB_TYPE, {"i": i}, tenant_id="bench")
    else:
        for start in range(0, n, batch):
            await app.enqueue_many(requests(start, min(batch, n - start)))
    elapsed = time.perf_counter() - begin
    stored = await _count_benchmark_jobs(config)
    await app.close()
    return {"jobs_per_s": n / elapsed, "elapsed_s": elapsed, "stored": stored}


def _worker_process(
    config: BenchConfig,
    ready: Event,
    go: Event,
    stop: Event,
    calls: ctypes.Array[ctypes.c_longlong],
    index: int,
    cpu: Synchronized[float],
    stamps: SynchronizedArray[float] | None,
) -> None:
    def on_job(i: int) -> None:
        calls[index] += 1  # this process's own counter: no lock shared with the others
        if stamps is not None and 0 <= i < len(stamps) and stamps[i] == 0.0:
            stamps[i] = time.time()

    async def main() -> None:
        app = make_app(config, on_job)
        worker = app.worker(concurrency=config.concurrency)
        await asyncio.to_thread(app.database)  # connect before reporting ready
        settle_worker_heap()  # as `rota worker` does in its process
        ready.set()
        await asyncio.to_thread(go.wait)
        task = asyncio.create_task(worker.run(install_signals=False))
        began = os.times()
        await asyncio.to_thread(stop.wait)
        ended = os.times()
        with cpu.get_lock():
            cpu.value += ended.user - began.user + ended.system - began.system
        worker.stop()
        await task
        await app.close()

    settings = Settings.load(**dict(config.settings))
    loops.run(main(), cast(loops.EventLoopChoice, settings.event_loop))
    os._exit(0)


class _Workers:
    def __init__(self, config: BenchConfig, processes: int, stamps: int = 0) -> None:
        context = mp.get_context("spawn")
        self.ready = [context.Event() for _ in range(processes)]
        self.go = context.Event()
        self.stop = context.Event()
        # Handler calls, one counter per process (written only by it, summed here), as the
        # peer harness counts: a shared counter behind a lock cost each job about 2 us.
        self.calls: ctypes.Array[ctypes.c_longlong] = context.Array("q", processes, lock=False)
        self.cpu: Synchronized[float] = context.Value("d", 0.0)  # seconds, all processes
        self.stamps: SynchronizedArray[float] | None = (
            context.Array("d", stamps) if stamps else None
        )
        self.processes = [
            context.Process(
                target=_worker_process,
                args=(config, ready, self.go, self.stop, self.calls, index, self.cpu, self.stamps),
            )
            for index, ready in enumerate(self.ready)
        ]

    def start(self, timeout: float = 60) -> None:
        for process in self.processes:
            process.start()
        for ready in self.ready:
            if not ready.wait(timeout):
                raise TimeoutError("a worker process did not become ready")

    def called(self) -> int:
        """Handler calls so far, in every process."""
        return sum(self.calls)

    def finish(self) -> None:
        self.stop.set()
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()


async def w2(config: BenchConfig, n: int, processes: int, timeout: float = 120) -> dict[str, Any]:
    """Drain ``n`` pre-enqueued no-op jobs with ``processes`` worker processes."""
    app = make_app(config)
    app.migrate()
    for start in range(0, n, 5000):
        await app.enqueue_many(requests(start, min(5000, n - start)))
    await app.close()
    await _admin(config, "ANALYZE {schema}.jobs")
    await _admin(config, "CHECKPOINT")
    workers = _Workers(config, processes)
    await asyncio.to_thread(workers.start)
    try:
        begin = time.perf_counter()
        workers.go.set()
        deadline = begin + timeout
        safety_poll = begin + 1.0
        async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
            # Poll the table only once every handler ran (every 10 ms), else once a second,
            # so the polling does not load the server during the drain.
            while True:
                now = time.perf_counter()
                all_called = workers.called() >= n
                if (all_called or now >= safety_poll) and await _remaining(conn, config) == 0:
                    break
                if now >= safety_poll:
                    safety_poll = now + 1.0
                if now > deadline:
                    raise TimeoutError(f"drain did not finish within {timeout}s")
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - begin
            db_cpu = await _backends_cpu_seconds(conn)
    finally:
        await asyncio.to_thread(workers.finish)
    figures: dict[str, Any] = {
        "jobs_per_s": n / elapsed,
        "elapsed_s": elapsed,
        "handler_calls": workers.called(),
        # Where a job's time goes: CPU of the worker processes (from go to stop) and of the
        # database sessions serving them (when the server runs on this machine).
        "worker_cpu_us_per_job": workers.cpu.value / n * 1e6,
    }
    if db_cpu is not None:
        figures["db_cpu_us_per_job"] = db_cpu / n * 1e6
    return figures


async def w3(
    config: BenchConfig, n: int, interval_ms: float, settle: float = 2.0
) -> dict[str, Any]:
    """Enqueue ``n`` jobs one at a time every ``interval_ms`` to one idle worker process;
    latency = handler start minus the moment enqueue returned."""
    app = make_app(config)
    app.migrate()
    await app.enqueue("bench.noop", {"i": -1}, tenant_id="warm-up")
    workers = _Workers(config, 1, stamps=n)
    await asyncio.to_thread(workers.start)
    workers.go.set()
    await asyncio.sleep(settle)
    returned = [0.0] * n
    called = [0.0] * n
    try:
        next_at = time.perf_counter()
        for i in range(n):
            called[i] = time.time()
            await app.enqueue(JOB_TYPE, {"i": i}, tenant_id="bench")
            returned[i] = time.time()
            next_at += interval_ms / 1000
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        assert workers.stamps is not None
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and sum(1 for s in workers.stamps[:] if s) < n:
            await asyncio.sleep(0.05)
        stamps = workers.stamps[:]
    finally:
        await asyncio.to_thread(workers.finish)
        await app.close()
    latencies = sorted((s - r) * 1000 for s, r in zip(stamps, returned, strict=True) if s)
    from_call = sorted((s - c) * 1000 for s, c in zip(stamps, called, strict=True) if s)
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "min_ms": latencies[0] if latencies else math.nan,
        "max_ms": latencies[-1] if latencies else math.nan,
        "p50_from_call_ms": percentile(from_call, 50),
        "received": len(latencies),
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


async def _backends_cpu_seconds(conn: psycopg.AsyncConnection[Any]) -> float | None:
    """CPU time of the other client sessions of this database, read from /proc; None when
    the server is not on this machine (or its processes cannot be read)."""
    cursor = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    pids = [pid for (pid,) in await cursor.fetchall()]

    def read() -> float | None:
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    return await asyncio.to_thread(read)


async def _admin(config: BenchConfig, statement: str) -> None:
    async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL(statement).format(schema=sql.Identifier(config.schema)))


async def _remaining(conn: psycopg.AsyncConnection[Any], config: BenchConfig) -> int:
    query = sql.SQL(
        "SELECT count(*) FROM {schema}.jobs WHERE status IN ('queued', 'running')"
    ).format(schema=sql.Identifier(config.schema))
    row = await (await conn.execute(query)).fetchone()
    return int(row[0]) if row else 0


async def _count_benchmark_jobs(config: BenchConfig) -> int:
    async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {schema}.jobs WHERE tenant_id = 'bench'").format(
            schema=sql.Identifier(config.schema)
        )
        row = await (await conn.execute(query)).fetchone()
        return int(row[0]) if row else 0
