"""Instructions the database executes per drained job, counted by valgrind (callgrind) in the
two backends that serve a worker's claims and completions:

    # a scratch PostgreSQL whose every backend runs under callgrind (slow: minutes per run)
    initdb -D /tmp/rota-vg/data -U postgres --auth=trust
    valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file=/tmp/rota-vg/cg.%p postgres -D /tmp/rota-vg/data -p 55433 &
    python bench/db_instructions.py --dsn postgresql://postgres@127.0.0.1:55433/postgres \
        --out-dir /tmp/rota-vg --batch 50

Timings of the database on shared machines move by 20-30% from run to run, and a change worth
a few per cent of a statement cannot be seen in them; an instruction count repeats within
0.1%. The loop is the worker's own database path without its scheduling: the fair claim
(``ClaimStore.claim_fair``, on its own connection) takes ``--batch`` jobs, a ``Completer``
records them as one batch, and again until the queue is empty. Each size (``--small``,
``--large``) runs on a fresh schema; the difference between the two sizes, per job, is what
the claim's and the completion's backends spent on each job, start-up and first plans
cancelled out. Run with two batch sizes to see what a statement costs on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from rota.bench.workloads import BenchConfig, make_app, requests
from rota.core import loops
from rota.store.claims import ClaimStore, FairClaim
from rota.store.db import Database
from rota.store.jobs import Completion, JobStore
from rota.worker.completer import Completer

_SCHEMA = "rota_db_instructions"
_BACKENDS = ("rota-claim", "rota-complete")


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


async def drain(dsn: str, batch: int) -> tuple[int, dict[str, int]]:
    """Claim and complete until nothing is left; the jobs done and the pid of each backend."""
    db = Database(dsn, max_size=2)
    claims = ClaimStore(db, _SCHEMA)
    store = JobStore(db, _SCHEMA)
    worker_id = uuid.uuid4()
    completer = Completer(store, worker_id)
    completer.start()
    done, cursor = 0, ""
    try:
        while True:
            claim = FairClaim(
                queue="default", cursor=cursor, limit=batch, worker_id=worker_id, lease_seconds=60
            )
            jobs, cursor, _ = await claims.claim_fair(claim)
            if not jobs:
                break
            took = await asyncio.gather(
                *(completer.complete(Completion(job.id, job.attempt, None)) for job in jobs)
            )
            if not all(took):
                raise SystemExit("a completion was fenced out: is another worker running?")
            done += len(jobs)
        pids = await backend_pids(dsn)
    finally:
        await completer.stop()
        await claims.close()
        await db.close()
    return done, pids


async def backend_pids(dsn: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT application_name, pid FROM pg_stat_activity"
                " WHERE application_name = ANY(%s) ORDER BY backend_start",
                (list(_BACKENDS),),
            )
        ).fetchall()
    pids = dict(rows)  # the latest session of each name
    missing = [name for name in _BACKENDS if name not in pids]
    if missing:
        raise SystemExit(f"no backend found for {missing}")
    return pids


def instructions(out_dir: Path, pid: int) -> int:
    """The total callgrind wrote for a backend when it exited."""
    path = out_dir / f"cg.{pid}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists():
            found = re.search(r"^summary: (\d+)", path.read_text(errors="replace"), re.M)
            if found:
                return int(found.group(1))
        time.sleep(0.5)
    raise SystemExit(f"no callgrind summary in {path}: is the server running under callgrind?")


def counted(dsn: str, out_dir: Path, jobs: int, batch: int) -> dict[str, int]:
    loops.run(fill(dsn, jobs))
    done, pids = loops.run(drain(dsn, batch))
    if done != jobs:
        raise SystemExit(f"drained {done} of {jobs} jobs: is the schema shared?")
    return {name: instructions(out_dir, pid) for name, pid in pids.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="a server running under callgrind")
    parser.add_argument("--out-dir", required=True, type=Path, help="its --callgrind-out-file dir")
    parser.add_argument("--batch", type=int, default=50, help="jobs per claim and completion")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        raise SystemExit("--small must be above 0 and below --large")
    if args.batch < 1:
        raise SystemExit("--batch takes a number of jobs (1 or more)")
    small = counted(args.dsn, args.out_dir, args.small, args.batch)
    large = counted(args.dsn, args.out_dir, args.large, args.batch)
    jobs = args.large - args.small
    total = 0.0
    for name in _BACKENDS:
        per_job = (large[name] - small[name]) / jobs
        total += per_job
        print(f"{name}: {per_job:,.0f} instructions per job (batches of {args.batch})")
    print(f"both: {total:,.0f} instructions per job")


if __name__ == "__main__":
    main()
