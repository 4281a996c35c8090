"""Drain N pre-enqueued no-op jobs with one real worker in this process, for profilers:

    py-spy record -f flamegraph -o worker.svg -- .venv/bin/python bench/profile_worker.py \
        --dsn postgresql://localhost/rota_bench --jobs 20000

Enqueues the jobs (untimed, in a schema of its own that it drops first), runs ANALYZE, then
runs ``worker.run()`` with default settings until the database shows no unfinished job, and
prints jobs/s and the WAL the server wrote per job during the drain. Only the drain is worth
reading in a profile; the fill is a small share.

WAL per job moves little from run to run where timings move by 20-30%, so it shows a change
to what the statements write (rows, index entries) on its own. A CHECKPOINT (where the role
may run one) comes first, so full-page images count the same in every run. Run nothing else
against the server meanwhile: the figure is the whole server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

import psycopg
from psycopg import sql

from rota.bench.workloads import BenchConfig, make_app, requests
from rota.core import loops


async def drain(dsn: str, jobs: int, concurrency: int, schema: str) -> tuple[float, float]:
    """Jobs per second, and WAL bytes per job."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
    config = BenchConfig(dsn=dsn, schema=schema, concurrency=concurrency)
    app = make_app(config)
    app.migrate()
    for start in range(0, jobs, 5000):
        await app.enqueue_many(requests(start, min(5000, jobs - start)))
    remaining = sql.SQL(
        "SELECT count(*) FROM {}.jobs WHERE status IN ('queued', 'running')"
    ).format(sql.Identifier(schema))
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("ANALYZE {}.jobs").format(sql.Identifier(schema)))
        # A checkpoint first, so that every page the drain touches writes its full image:
        # the WAL figure does not depend on when the server's own checkpoint came.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await conn.execute("CHECKPOINT")
        worker = app.worker(concurrency=concurrency)
        wal_from = await wal_position(conn)
        began = time.perf_counter()
        task = asyncio.create_task(worker.run(install_signals=False))
        while True:
            await asyncio.sleep(0.05)
            row = await (await conn.execute(remaining)).fetchone()
            if row is not None and row[0] == 0:
                break
        elapsed = time.perf_counter() - began
        wal = await wal_since(conn, wal_from)
        worker.stop()
        await task
    await app.close()
    return jobs / elapsed, wal / jobs


async def wal_position(conn: psycopg.AsyncConnection[Any]) -> str:
    row = await (await conn.execute("SELECT pg_current_wal_lsn()::text")).fetchone()
    assert row is not None
    return str(row[0])


async def wal_since(conn: psycopg.AsyncConnection[Any], position: str) -> float:
    query = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)"
    row = await (await conn.execute(query, (position,))).fetchone()
    assert row is not None
    return float(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--schema", default="rota_profile")
    args = parser.parse_args()
    rate, wal = loops.run(drain(args.dsn, args.jobs, args.concurrency, args.schema))
    print(f"drained {args.jobs} jobs at {rate:,.0f} jobs/s; WAL {wal:,.0f} bytes per job")


if __name__ == "__main__":
    main()
