"""Instructions a rota process executes per job, counted by valgrind (callgrind):

    python bench/instructions.py --dsn postgresql://localhost/rota_bench
    python bench/instructions.py --dsn ... --enqueue 1000    # per job enqueued in batches
    python bench/instructions.py --dsn ... --enqueue 1       # per single enqueue

Timings on shared machines move by 20-30% from run to run; an instruction count does not, so
this is how a change to a hot path is weighed before the peer harness. By default it drains a
small and a large batch of pre-enqueued no-op jobs (default settings, ``Worker.drain()``);
with ``--enqueue B`` it enqueues a small and a large number of jobs, B per call (W1's path).
Each run is a fresh process under callgrind, and the difference per job is printed: start-up
and imports cancel out. Needs ``valgrind`` on the PATH; the jobs go to a schema of their own,
dropped first.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

import psycopg
from psycopg import sql

from rota.bench.workloads import JOB_TYPE, BenchConfig, make_app, requests
from rota.core import loops
from rota.worker.heap import settle_worker_heap

_SCHEMA = "rota_instructions"


async def fresh_schema(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(_SCHEMA))
        )
    make_app(BenchConfig(dsn=dsn, schema=_SCHEMA)).migrate()


async def fill(dsn: str, jobs: int) -> None:
    await fresh_schema(dsn)
    app = make_app(BenchConfig(dsn=dsn, schema=_SCHEMA))
    for start in range(0, jobs, 5000):
        await app.enqueue_many(requests(start, min(5000, jobs - start)))
    await app.close()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("ANALYZE {}.jobs").format(sql.Identifier(_SCHEMA)))


async def drain(dsn: str) -> None:
    app = make_app(BenchConfig(dsn=dsn, schema=_SCHEMA))
    worker = app.worker()
    settle_worker_heap()  # as `rota worker` and `rota drain` do in their process
    await worker.drain()
    await app.close()


async def enqueue(dsn: str, jobs: int, batch: int) -> None:
    app = make_app(BenchConfig(dsn=dsn, schema=_SCHEMA))
    await app.enqueue(JOB_TYPE, {"i": -1}, tenant_id="warm-up")  # opens the pool
    for start in range(0, jobs, batch):
        if batch == 1:
            await app.enqueue(JOB_TYPE, {"i": start}, tenant_id="bench")
        else:
            await app.enqueue_many(requests(start, min(batch, jobs - start)))
    await app.close()


def counted(dsn: str, jobs: int, batch: int) -> int:
    """Instructions of one process that drains ``jobs`` queued jobs (``batch`` 0) or enqueues
    them ``batch`` per call."""
    if batch:
        loops.run(fresh_schema(dsn))
    else:
        loops.run(fill(dsn, jobs))
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--dsn",
            dsn,
            "--run",
            str(jobs),
            "--enqueue",
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : ([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--enqueue", type=int, default=0, metavar="B", help="jobs per enqueue")
    parser.add_argument("--small", type=int, help="jobs in the small run")
    parser.add_argument("--large", type=int, help="jobs in the large run")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enqueue < 0:
        raise SystemExit("--enqueue takes a number of jobs per call (1 or more)")
    if args.run is not None:  # the measured process
        if args.enqueue:
            loops.run(enqueue(args.dsn, args.run, args.enqueue))
        else:
            loops.run(drain(args.dsn))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    small_default, large_default = (
        (600, 2400) if not args.enqueue else (200, 1000) if args.enqueue == 1 else (2000, 10000)
    )
    small = args.small or small_default
    large = args.large or large_default
    if not 0 < small < large:
        raise SystemExit("--small must be above 0 and below --large")
    counts = [counted(args.dsn, jobs, args.enqueue) for jobs in (small, large)]
    per_job = (counts[1] - counts[0]) / (large - small)
    what = f"enqueued job ({args.enqueue} per call)" if args.enqueue else "drained job"
    print(f"instructions per {what}: {per_job:,.0f}")
    print(f"(run of {small}: {counts[0]:,}; run of {large}: {counts[1]:,})")


if __name__ == "__main__":
    main()
