"""Instructions the worker process executes per drained job, counted by valgrind (callgrind):

    python bench/instructions.py --dsn postgresql://localhost/rota_bench

Timings on shared machines move by 20-30% from run to run; an instruction count does not, so
this is how a change to the worker's hot path is weighed before the peer harness. It drains
a small and a large batch of pre-enqueued no-op jobs (default settings, ``Worker.drain()``),
each in a fresh process under callgrind, and prints the difference per job: start-up and
imports cancel out. Needs ``valgrind`` on the PATH; the jobs go to a schema of their own,
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

from rota.bench.workloads import BenchConfig, make_app, requests
from rota.core import loops

_SCHEMA = "rota_instructions"


async def fill(dsn: str, jobs: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(_SCHEMA))
        )
    app = make_app(BenchConfig(dsn=dsn, schema=_SCHEMA))
    app.migrate()
    for start in range(0, jobs, 5000):
        await app.enqueue_many(requests(start, min(5000, jobs - start)))
    await app.close()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL("ANALYZE {}.jobs").format(sql.Identifier(_SCHEMA)))


async def drain(dsn: str) -> None:
    app = make_app(BenchConfig(dsn=dsn, schema=_SCHEMA))
    await app.worker().drain()
    await app.close()


def counted(dsn: str, jobs: int) -> int:
    """Instructions of one process that drains ``jobs`` queued jobs."""
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
            "--drain",
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
    parser.add_argument("--small", type=int, default=600, help="jobs in the small drain")
    parser.add_argument("--large", type=int, default=2400, help="jobs in the large drain")
    parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        loops.run(drain(args.dsn))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    if not 0 < args.small < args.large:
        raise SystemExit("--small must be above 0 and below --large")
    small = counted(args.dsn, args.small)
    large = counted(args.dsn, args.large)
    per_job = (large - small) / (args.large - args.small)
    print(f"worker instructions per drained job: {per_job:,.0f}")
    print(f"(drain of {args.small}: {small:,}; drain of {args.large}: {large:,})")


if __name__ == "__main__":
    main()
