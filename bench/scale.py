"""Scale: enqueue and claim throughput on top of a large backlog, the plans of the hot
statements, and a worker process's memory over a long drain. Prints figures; asserts
nothing.

Throughput (default): for each backlog size, a fresh schema is filled with that many queued
no-op jobs (``App.enqueue_many`` in batches of 5,000), then ANALYZE (and CHECKPOINT, unless
``--no-checkpoint``), then:

- enqueue: ``--singles`` single ``app.enqueue`` calls and ``--batches`` ``enqueue_many``
  calls of ``--batch-size`` jobs, on top of the backlog;
- claim: the worker's own claim path (``Claimer.claim`` of 10, then ``complete_jobs`` of
  those 10, one after the other) drains ``--claim-jobs`` jobs, for fair and for FIFO claims,
  timing each statement; and which plan (generic or custom) PostgreSQL used for each of the
  worker's prepared statements;
- EXPLAIN (ANALYZE, BUFFERS, WAL) of the fair claim, the FIFO claim and the completion of 10
  and of the insert of 1 and 1,000 jobs, each as a custom and as a generic plan, with rota's
  session settings, in a transaction that is rolled back. A sequential scan of ``jobs`` is
  flagged, and so is JIT compilation (a plan whose estimated cost passes jit_above_cost).

A summary compares every size with the first (the issue's target: 1M within 20% of 20k).
With ``--rounds R`` the sizes run R times, alternating (20k, 1M, 20k, 1M, ...), and the summary
compares each figure's median over the rounds, after listing every round's: on a shared
machine a slow stretch then lands on both sizes instead of one. Plans are explained in the
first round only.

    python bench/scale.py [--dsn URL] [--sizes 20000,1000000] [--claim-jobs 20000] [--rounds 3]

Retention (``--finished``): rota keeps finished jobs (status API, events, runs), so a large
table is as often history as backlog. ``--finished 0,1000000`` runs every size once with no
history and once on top of 1,000,000 finished jobs: enqueued, marked succeeded with their run
and two transition events each, and vacuumed, as autovacuum leaves a table between bursts;
then the queued backlog is enqueued (into the space the vacuum freed, and after it).

    python bench/scale.py [--dsn URL] --sizes 20000 --finished 0,1000000

Memory (``--rss``): fills ``--jobs`` jobs, starts one worker process (spawn, running
``app.worker().run()`` with the no-op handler of ``rota.bench.workloads``, its collector
settled as ``rota worker`` settles it), samples its RSS
(/proc/PID/status) every ``--sample-seconds`` and at every 10% of progress, and prints RSS
after start-up, along the drain, at the end, the peak and VmHWM.

    python bench/scale.py --rss [--dsn URL] [--jobs 1000000]

The database is ``--dsn``, else ROTA_DATABASE_URL. The benchmark owns one schema
(``--schema``, default ``rota_scale``): it is dropped and recreated for every size and
dropped at the end (``--keep`` leaves the last one); nothing else in the database is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing as mp
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import rota
from rota.bench.workloads import JOB_TYPE, BenchConfig, make_app, percentile
from rota.core.requests import build_job
from rota.store import db as rota_db
from rota.store.claims import MAX_TENANTS_PER_CLAIM
from rota.store.jobs import Channels, Completion, _insert_params
from rota.store.queries import Queries, statement_names
from rota.store.queries import positional as positional_statement
from rota.worker.heap import settle_worker_heap

DEFAULT_SCHEMA = "rota_scale"
QUEUE = "default"
FILL_BATCH = 5000
CLAIM_BATCH = 10
WARMUP_CLAIMS = 10  # claim+complete rounds before the clock starts (prepared statements)
TARGET_RATIO = 0.80  # the issue: 1M within 20% of the 20k figures

Row = dict[str, Any]


# -- setup ---------------------------------------------------------------------------------


def tenant_of(i: int, tenants: int) -> str:
    return "bench" if tenants <= 1 else f"bench-{i % tenants:04d}"


def requests(start: int, count: int, tenants: int = 1) -> list[rota.JobRequest]:
    """As ``rota.bench.workloads.requests``, optionally spread over ``tenants`` tenants."""
    return [
        rota.JobRequest(JOB_TYPE, {"i": i}, tenant_id=tenant_of(i, tenants))
        for i in range(start, start + count)
    ]


async def admin(dsn: str, statement: LiteralString, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


async def fresh_schema(config: BenchConfig) -> None:
    await admin(config.dsn, "DROP SCHEMA IF EXISTS {schema} CASCADE", config.schema)
    await asyncio.to_thread(make_app(config).migrate)


async def fill(config: BenchConfig, n: int, tenants: int) -> float:
    """Enqueue ``n`` jobs in batches of 5,000; returns jobs/s."""
    app = make_app(config)
    begin = time.perf_counter()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8,.0f} jobs/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        console = Console(stderr=True)
        with Progress(
            *columns, console=console, transient=True, disable=not console.is_terminal
        ) as progress:
            task = progress.add_task(f"enqueue {n:,} jobs", total=n, rate=0.0)
            for start in range(0, n, FILL_BATCH):
                count = min(FILL_BATCH, n - start)
                await app.enqueue_many(requests(start, count, tenants))
                rate = (start + count) / (time.perf_counter() - begin)
                progress.update(task, advance=count, rate=rate)
    finally:
        await app.close()
    return n / (time.perf_counter() - begin)


# Finished jobs as the worker leaves them: succeeded, with their run and both transition events.
_FINISH_HISTORY: list[LiteralString] = [
    "UPDATE {schema}.jobs SET status = 'succeeded', attempt = 1, run_id = gen_random_uuid(), "
    "started_at = now(), finished_at = now()",
    "INSERT INTO {schema}.job_runs (job_id, attempt, run_id, tenant_id, outcome, started_at) "
    "SELECT id, attempt, run_id, tenant_id, 'succeeded', started_at FROM {schema}.jobs",
    "INSERT INTO {schema}.job_events (job_id, tenant_id, kind, from_status, to_status, attempt) "
    "SELECT id, tenant_id, 'transition', s.from_status, s.to_status, 1 FROM {schema}.jobs "
    "CROSS JOIN (VALUES ('queued', 'running'), ('running', 'succeeded')) "
    "AS s(from_status, to_status)",
]


async def add_history(config: BenchConfig, n: int, tenants: int) -> None:
    """``n`` finished jobs kept ahead of the backlog, then a VACUUM of every table."""
    rate = await fill(config, n, tenants)
    async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
        for statement in _FINISH_HISTORY:
            await conn.execute(sql.SQL(statement).format(schema=sql.Identifier(config.schema)))
        for table in ("jobs", "job_runs", "job_events"):
            await conn.execute(
                sql.SQL("VACUUM {}.{}").format(*map(sql.Identifier, (config.schema, table)))
            )
    print(
        f"history: {n:,} finished jobs kept (enqueued at {rate:,.0f} jobs/s), each with its run "
        "and two transition events; vacuumed"
    )


async def prepare_backlog(
    config: BenchConfig, n: int, tenants: int, checkpoint: bool, vacuum: bool, finished: int = 0
) -> None:
    await fresh_schema(config)
    if finished:
        await add_history(config, finished, tenants)
    rate = await fill(config, n, tenants)
    async with await psycopg.AsyncConnection.connect(config.dsn, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (config.schema,)
        )
        for (table,) in await cursor.fetchall():
            command = "VACUUM (ANALYZE) {}.{}" if vacuum else "ANALYZE {}.{}"
            await conn.execute(
                sql.SQL(command).format(*map(sql.Identifier, (config.schema, table)))
            )
        if checkpoint:
            await conn.execute("CHECKPOINT")
    print(
        f"backlog: {n:,} jobs enqueued at {rate:,.0f} jobs/s (batches of {FILL_BATCH:,}), "
        f"{'vacuumed and analyzed' if vacuum else 'analyzed'}"
        f"{', checkpoint' if checkpoint else ''}"
    )


async def queued_count(dsn: str, schema: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.jobs WHERE status = 'queued'").format(
            sql.Identifier(schema)
        )
        row = await (await conn.execute(query)).fetchone()
        return int(row[0]) if row else 0


async def vacuum_counts(dsn: str, schema: str) -> dict[str, tuple[int, int]]:
    """Table -> (autovacuum_count, autoanalyze_count): did autovacuum run meanwhile?"""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables "
            "WHERE schemaname = %s",
            (schema,),
        )
        return {name: (int(v), int(a)) for name, v, a in await cursor.fetchall()}


def vacuum_note(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    ran = [
        f"{'autovacuum' if kind == 0 else 'autoanalyze'} {table}"
        for table, counts in sorted(after.items())
        for kind in (0, 1)
        if counts[kind] > before.get(table, (0, 0))[kind]
    ]
    return ", ".join(ran) if ran else "none"


# -- prepared statements: which plan the server chose ----------------------------------------


def to_positional(text: LiteralString) -> tuple[str, list[str]]:
    """The statement as psycopg prepares it (``$n`` placeholders) and its parameter names."""
    statement = positional_statement(text)
    return statement.text, list(statement.names)


def statement_labels(q: Queries) -> dict[str, str]:
    """Server-side text of rota's hot statements (as psycopg prepares them) -> label."""
    labels = {
        "claim_jobs_fair": "fair claim",
        "claim_jobs": "FIFO claim",
        "complete_jobs": "completion",
        "insert_jobs": "insert (arrays)",
        "insert_job": "insert (one job)",
    }
    known = set(statement_names())
    return {
        to_positional(getattr(q, name))[0]: label for name, label in labels.items() if name in known
    }


async def plan_usage(conn: psycopg.AsyncConnection[Any], labels: dict[str, str]) -> list[str]:
    """generic/custom plan counts of rota's prepared statements in this session."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    )
    return [
        f"{labels[row['statement']]}: {row['generic_plans']} generic, {row['custom_plans']} custom"
        for row in await cursor.fetchall()
        if row["statement"] in labels
    ]


# -- enqueue ---------------------------------------------------------------------------------


@dataclass
class EnqueueFigures:
    single_per_s: float
    batch_per_s: float
    single_ms: list[float]
    plan_usage: list[str]


async def measure_enqueue(
    config: BenchConfig, singles: int, batches: int, batch_size: int, offset: int
) -> EnqueueFigures:
    app = make_app(config)
    try:
        for _ in range(10):  # opens the pool; psycopg prepares after 5 executions
            await app.enqueue(JOB_TYPE, {"i": -1}, tenant_id="warm-up")
        await app.enqueue_many(requests(-batch_size, batch_size))
        latencies: list[float] = []
        begin = time.perf_counter()
        for i in range(offset, offset + singles):
            t0 = time.perf_counter()
            await app.enqueue(JOB_TYPE, {"i": i}, tenant_id="bench")
            latencies.append((time.perf_counter() - t0) * 1000)
        single_s = time.perf_counter() - begin
        begin = time.perf_counter()
        for b in range(batches):
            await app.enqueue_many(requests(offset + singles + b * batch_size, batch_size))
        batch_s = time.perf_counter() - begin
        async with app.database().connection() as conn:
            usage = await plan_usage(conn, statement_labels(Queries(config.schema)))
    finally:
        await app.close()
    return EnqueueFigures(
        singles / single_s, batches * batch_size / batch_s, sorted(latencies), usage
    )


# -- claim -----------------------------------------------------------------------------------


@dataclass
class ClaimFigures:
    mode: str
    jobs: int
    seconds: float
    claim_ms: list[float] = field(default_factory=list)  # sorted once the drain ends
    complete_ms: list[float] = field(default_factory=list)
    fenced: int = 0
    plan_usage: list[str] = field(default_factory=list)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


async def measure_claims(config: BenchConfig, mode: str, target: int) -> ClaimFigures:
    """Drain ``target`` jobs through the worker's claim path: claim 10 (fair or FIFO, as the
    worker's Claimer chooses for the queue), complete those 10, repeat."""
    app = make_app(replace(config, settings=(("fair_claims", mode == "fair"),)))
    worker = app.worker(concurrency=config.concurrency)
    claimer, store = worker._claimer, worker.store
    figures = ClaimFigures(mode, 0, 0.0)

    async def round_trip(limit: int, timed: bool) -> int:
        t0 = time.perf_counter()
        jobs = await claimer.claim(worker.queues, limit, [])
        t1 = time.perf_counter()
        if not jobs:
            return 0
        done = await store.complete_jobs(
            worker.id, [Completion(job.id, job.attempt, None) for job in jobs]
        )
        if timed:
            figures.claim_ms.append((t1 - t0) * 1000)
            figures.complete_ms.append((time.perf_counter() - t1) * 1000)
            figures.fenced += done.count(False)
        return len(jobs)

    try:
        for _ in range(WARMUP_CLAIMS):
            await round_trip(CLAIM_BATCH, timed=False)
        begin = time.perf_counter()
        while figures.jobs < target:
            claimed = await round_trip(min(CLAIM_BATCH, target - figures.jobs), timed=True)
            if not claimed:
                print(f"  {mode}: the queue ran dry after {figures.jobs:,} jobs")
                break
            figures.jobs += claimed
        figures.seconds = time.perf_counter() - begin
        figures.claim_ms.sort()
        figures.complete_ms.sort()
        labels = statement_labels(Queries(config.schema))
        async with app.database().connection() as conn:
            figures.plan_usage += await plan_usage(conn, labels)
        async with worker._claims.connection() as claim_conn:  # the claims' own connection
            figures.plan_usage += await plan_usage(claim_conn, labels)
    finally:
        await worker._claims.close()
        await app.close()
    return figures


# -- EXPLAIN ---------------------------------------------------------------------------------


@dataclass
class Plan:
    label: str
    mode: str
    text: str
    execution_ms: float
    planning_ms: float
    buffers: int  # shared hit + read of the top node
    flags: list[str]
    wal: str = ""  # the top node's WAL line: records, full-page images, bytes


_SCAN = re.compile(r"(Parallel Seq Scan|Seq Scan|Bitmap Heap Scan) on (\w+)")
_REMOVED = re.compile(r"Rows Removed by (?:Filter|Index Recheck): (\d+)")
_BUFFERS = re.compile(r"shared (?:hit=(\d+))?\s*(?:read=(\d+))?")
_TIME = re.compile(r"(Planning|Execution) Time: ([\d.]+) ms")
_JIT = re.compile(r"JIT:\s+Functions: (\d+).*?Total ([\d.]+) ms", re.DOTALL)


def read_plan(label: str, mode: str, lines: list[str]) -> Plan:
    text = "\n".join(lines)
    times = {kind: float(ms) for kind, ms in _TIME.findall(text)}
    buffers, wal = 0, ""
    for line in lines[1:]:  # the top node's Buffers and WAL lines come before its first child
        stripped = line.strip()
        if "->" in line or stripped.startswith(("CTE ", "InitPlan", "SubPlan", "Planning")):
            break
        if stripped.startswith("Buffers:"):
            match = _BUFFERS.search(stripped)
            if match:
                buffers = sum(int(g) for g in match.groups() if g)
        elif stripped.startswith("WAL:"):
            wal = stripped.removeprefix("WAL:").strip()
    flags: list[str] = []
    for kind, relation in _SCAN.findall(text):
        if relation == "jobs":
            flags.append(f"{kind.upper()} ON jobs")
        elif kind != "Bitmap Heap Scan":
            flags.append(f"{kind.lower()} on {relation}")
    removed = sum(int(n) for n in _REMOVED.findall(text))
    if removed >= 1000:
        flags.append(f"{removed:,} rows removed by filters")
    if "external" in text and "Sort Method" in text:
        flags.append("sort spilled to disk")
    jit = _JIT.search(text)
    if jit:  # the plan's estimated cost passed jit_above_cost: compiled at every execution
        flags.append(f"JIT {float(jit.group(2)):,.1f} ms ({jit.group(1)} functions)")
    return Plan(
        label,
        mode,
        text,
        times.get("Execution", float("nan")),
        times.get("Planning", float("nan")),
        buffers,
        flags,
        wal,
    )


def _literal_args(names: list[str], params: Row) -> sql.Composed:
    missing = [name for name in names if name not in params]
    if missing:
        raise KeyError(f"the statement takes parameters this script does not know: {missing}")
    return sql.SQL(", ").join(sql.Literal(params[name]) for name in names)


async def explain_statement(
    conn: psycopg.AsyncConnection[Any],
    label: str,
    text: str,
    params: Row,
    modes: Sequence[str],
) -> list[Plan]:
    """PREPARE ``text``, then EXPLAIN (ANALYZE, BUFFERS, WAL) EXECUTE it once per plan mode,
    each in a savepoint rolled back afterwards (the caller's transaction is rolled back too).
    The plan cache mode is forced, so ``custom`` is the plan for these very values and
    ``generic`` the one a prepared statement may switch to after five executions."""
    positional, names = to_positional(text)
    name = sql.Identifier(f"rota_scale_{uuid.uuid4().hex[:8]}")
    plans = []
    await conn.execute("SAVEPOINT scale_statement")
    try:
        # rota's own statement text, with $n placeholders for the values below.
        await conn.execute(sql.SQL("PREPARE {} AS {}").format(name, sql.SQL(positional)))
        args = _literal_args(names, params)
        for mode in modes:
            await conn.execute("SAVEPOINT scale_explain")
            await conn.execute(
                sql.SQL("SET LOCAL plan_cache_mode = {}").format(sql.Literal(f"force_{mode}_plan"))
            )
            cursor = await conn.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS, WAL) EXECUTE {}({})").format(name, args)
            )
            lines = [row[0] for row in await cursor.fetchall()]
            await conn.execute("ROLLBACK TO SAVEPOINT scale_explain")
            plans.append(read_plan(label, mode, lines))
        await conn.execute(sql.SQL("DEALLOCATE {}").format(name))
    except (psycopg.Error, KeyError) as error:
        await conn.execute("ROLLBACK TO SAVEPOINT scale_statement")
        print(f"  EXPLAIN of {label} failed: {error}")
    return plans


async def explain_hot_statements(
    config: BenchConfig, modes: Sequence[str], lease_seconds: float = 30.0
) -> list[Plan]:
    """Plans of the claim and completion of 10 jobs and of the insert of 1 and 1,000 jobs,
    with the parameters the worker and ``enqueue`` pass (no limits, one queue)."""
    q = Queries(config.schema)
    worker_id = uuid.uuid4()
    fifo: Row = {
        "worker_id": worker_id,
        "queues": [QUEUE],
        "excluded_types": [],
        "limit": CLAIM_BATCH,
        "lease_seconds": lease_seconds,
    }
    tenant_count = max(1, min(CLAIM_BATCH, MAX_TENANTS_PER_CLAIM))
    fair: Row = {  # as ClaimStore._claim passes them for a claim without limits
        "tenants": None,
        "queue": QUEUE,
        "cursor": "",
        "tenant_count": tenant_count,
        "max_steps": tenant_count * 10,
        "limit": CLAIM_BATCH,
        "worker_id": worker_id,
        "lease_seconds": lease_seconds,
        "excluded_types": [],
        "default_weight": 1,
        "default_max_running": None,
        "limited_types": [],
        "type_caps": [],
        "type_grants": [],
        "pair_types": [],
        "pair_tenants": [],
        "pair_grants": [],
    }
    app = make_app(config)
    registry, max_bytes = app.registry, app.settings.payload_max_bytes
    store = app.jobs_store()

    def insert(count: int) -> tuple[str, Row]:
        """The statement and parameters the store uses for a batch of ``count`` jobs that
        cannot go through COPY (one job; a batch with idempotency keys or delays)."""
        jobs = [build_job(registry, request, max_bytes) for request in requests(-count, count)]
        choose = getattr(store, "_insert", None)  # older trees: always insert_jobs.sql
        return choose(jobs) if choose is not None else (q.insert_jobs, _insert_params(jobs))

    plans: list[Plan] = []
    async with await psycopg.AsyncConnection.connect(config.dsn) as conn:
        # rota's own session settings (jit off, since 99140a4), so the plans are rota's.
        for setting, value in getattr(rota_db, "SESSION_SETTINGS", {}).items():
            await conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
        await conn.commit()
        try:
            plans += await explain_statement(
                conn, "fair claim of 10", q.claim_jobs_fair, fair, modes
            )
            plans += await explain_statement(conn, "FIFO claim of 10", q.claim_jobs, fifo, modes)
            # The completion needs 10 jobs this worker holds: claim them first (rolled back).
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(q.claim_jobs, fifo)
            held = [(row["id"], row["attempt"]) for row in await cursor.fetchall()]
            complete = {
                "worker_id": worker_id,
                "ids": [job_id for job_id, _ in held],
                "attempts": [attempt for _, attempt in held],
                "results": [None] * len(held),
                "outcome_channel": Channels.of(config.schema).outcomes,
            }
            plans += await explain_statement(
                conn, "completion of 10", q.complete_jobs, complete, modes
            )
            plans += await explain_statement(conn, "insert of 1", *insert(1), ["custom"])
            plans += await explain_statement(conn, "insert of 1,000", *insert(1000), ["custom"])
        finally:
            await conn.rollback()
    return plans


# -- throughput at each backlog size -----------------------------------------------------------


@dataclass
class SizeFigures:
    size: int
    enqueue: EnqueueFigures
    claims: dict[str, ClaimFigures]
    plans: list[Plan]
    finished: int = 0

    @property
    def label(self) -> str:
        return f"{self.size:,}" + (f" +{self.finished:,} done" if self.finished else "")


def print_plans(plans: list[Plan], detail: str) -> None:
    print(
        f"  {'statement':18} {'plan':8} {'exec ms':>9} {'plan ms':>8} {'buffers':>8}  "
        f"{'WAL':32}  flags"
    )
    for plan in plans:
        print(
            f"  {plan.label:18} {plan.mode:8} {plan.execution_ms:9.3f} {plan.planning_ms:8.3f} "
            f"{plan.buffers:8,}  {plan.wal or '-':32}  {'; '.join(plan.flags) or '-'}"
        )
    seq = sorted({plan.label for plan in plans if any("SEQ SCAN ON jobs" in f for f in plan.flags)})
    print(f"  sequential scans of jobs: {', '.join(seq) if seq else 'none'}")
    if detail == "full":
        for plan in plans:
            print(f"\n  --- EXPLAIN (ANALYZE, BUFFERS, WAL): {plan.label}, {plan.mode} plan ---")
            print("\n".join(f"  {line}" for line in plan.text.splitlines()))


async def run_size(
    args: argparse.Namespace, size: int, finished: int = 0, explain: bool = True
) -> SizeFigures:
    config = BenchConfig(args.dsn, args.schema, args.concurrency)
    history = f", {finished:,} finished jobs kept" if finished else ""
    print(f"\n=== backlog {size:,} queued jobs{history} ===")
    await prepare_backlog(config, size, args.tenants, args.checkpoint, args.vacuum, finished)
    before = await vacuum_counts(args.dsn, args.schema)
    enqueue = await measure_enqueue(config, args.singles, args.batches, args.batch_size, size)
    s = enqueue.single_ms
    print(
        f"  enqueue: single {enqueue.single_per_s:,.0f} jobs/s "
        f"(p50 {percentile(s, 50):.2f} ms, p99 {percentile(s, 99):.2f} ms), "
        f"batch of {args.batch_size:,} {enqueue.batch_per_s:,.0f} jobs/s"
    )
    print(f"    plans chosen for enqueue: {'; '.join(enqueue.plan_usage) or '-'}")
    claims: dict[str, ClaimFigures] = {}
    for mode in args.claim_modes:
        queued = await queued_count(args.dsn, args.schema)
        figures = await measure_claims(config, mode, args.claim_jobs)
        claims[mode] = figures
        c, d = figures.claim_ms, figures.complete_ms
        print(
            f"  {mode} claim+complete of {CLAIM_BATCH} from {queued:,} queued: "
            f"{figures.jobs_per_s:,.0f} jobs/s ({figures.jobs:,} jobs in {figures.seconds:.1f} s); "
            f"claim p50 {percentile(c, 50):.2f} / p99 {percentile(c, 99):.2f} ms, "
            f"complete p50 {percentile(d, 50):.2f} / p99 {percentile(d, 99):.2f} ms"
            + (f"; {figures.fenced} completions fenced out" if figures.fenced else "")
        )
        print(f"    plans chosen in the {mode} drain: {'; '.join(figures.plan_usage) or '-'}")
    after = await vacuum_counts(args.dsn, args.schema)
    print(f"  autovacuum during the measurements: {vacuum_note(before, after)}")
    plans: list[Plan] = []
    if args.plans != "none" and explain:
        queued = await queued_count(args.dsn, args.schema)
        session = getattr(rota_db, "SESSION_SETTINGS", {})
        settings = ", ".join(f"{k}={v}" for k, v in session.items()) or "server defaults"
        print(
            f"\n  EXPLAIN at {queued:,} queued jobs, each in a transaction rolled back, "
            f"session settings as rota's ({settings})"
        )
        if "copy_jobs" in statement_names():
            print(
                "  (plain batches are enqueued with COPY, which has no plan; the insert of "
                "1,000 is the statement for batches with idempotency keys or delays)"
            )
        plans = await explain_hot_statements(config, args.plan_modes)
        print_plans(plans, args.plans)
    return SizeFigures(size, enqueue, claims, plans, finished)


def _median_low(values: list[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def median_figures(runs: list[SizeFigures]) -> SizeFigures:
    """One size's rounds as one: the median (the lower of two middles) of each rate; the
    statement timings of every round together; the plans of the round that explained them."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    enqueue = EnqueueFigures(
        _median_low([r.enqueue.single_per_s for r in runs]),
        _median_low([r.enqueue.batch_per_s for r in runs]),
        sorted(ms for r in runs for ms in r.enqueue.single_ms),
        first.enqueue.plan_usage,
    )
    claims: dict[str, ClaimFigures] = {}
    for mode in first.claims:
        figures = [r.claims[mode] for r in runs]
        middle = sorted(figures, key=lambda f: f.jobs_per_s)[(len(figures) - 1) // 2]
        claims[mode] = replace(
            middle,
            claim_ms=sorted(ms for f in figures for ms in f.claim_ms),
            complete_ms=sorted(ms for f in figures for ms in f.complete_ms),
            fenced=sum(f.fenced for f in figures),
        )
    plans = next((r.plans for r in runs if r.plans), [])
    return SizeFigures(first.size, enqueue, claims, plans, first.finished)


def print_rounds(by_size: list[list[SizeFigures]]) -> None:
    print("\n=== every round (jobs/s, in run order) ===")
    rows: list[tuple[str, Callable[[SizeFigures], float]]] = [
        ("enqueue single", lambda r: r.enqueue.single_per_s),
        ("enqueue batch", lambda r: r.enqueue.batch_per_s),
    ]
    rows += [(f"{mode} claim+complete", _claim_rate(mode)) for mode in by_size[0][0].claims]
    for label, value in rows:
        for runs in by_size:
            figures = ", ".join(f"{value(r):,.0f}" for r in runs)
            print(f"{label:24}{runs[0].label:>22}   {figures}")


def _claim_rate(mode: str) -> Callable[[SizeFigures], float]:
    return lambda r: r.claims[mode].jobs_per_s


def print_summary(results: list[SizeFigures], rounds: int = 1) -> None:
    base = results[0]
    medians = f", medians of {rounds} rounds" if rounds > 1 else ""
    print(
        f"\n=== summary: every size against {base.label}{medians} "
        f"(target ratio >= {TARGET_RATIO}) ==="
    )
    width = max(14, *(len(r.label) + 2 for r in results))
    header = "".join(f"{r.label:>{width}}" for r in results)
    print(f"{'jobs/s':34}{header}   ratio")
    rows: list[tuple[str, Callable[[SizeFigures], float]]] = [
        ("enqueue single", lambda r: r.enqueue.single_per_s),
        ("enqueue batch", lambda r: r.enqueue.batch_per_s),
    ]
    rows += [(f"{mode} claim+complete", _claim_rate(mode)) for mode in base.claims]
    for label, value in rows:
        figures = [value(r) for r in results]
        ratios = "  ".join(
            f"{f / figures[0]:.2f}{'' if f / figures[0] >= TARGET_RATIO else ' (BELOW TARGET)'}"
            for f in figures[1:]
        )
        print(f"{label:34}" + "".join(f"{f:>{width},.0f}" for f in figures) + f"   {ratios}")
    print(f"{'ms per statement (p50)':34}")
    for mode in base.claims:
        for kind in ("claim", "complete"):
            values = [percentile(getattr(r.claims[mode], f"{kind}_ms"), 50) for r in results]
            print(
                f"{f'  {mode} {kind} of {CLAIM_BATCH}':34}"
                + "".join(f"{v:>{width}.2f}" for v in values)
                + f"   {values[-1] / values[0]:.2f}x"
            )
    if base.plans:
        print(
            f"{'EXPLAIN execution ms / buffers':34}"
            + "".join(f"{r.label:>{max(20, width)}}" for r in results)
        )
        for i, plan in enumerate(base.plans):
            cells = [r.plans[i] for r in results if len(r.plans) > i]
            print(
                f"{f'  {plan.label}, {plan.mode}':34}"
                + "".join(
                    f"{f'{p.execution_ms:.2f} / {p.buffers:,}':>{max(20, width)}}" for p in cells
                )
            )
        seq = sorted(
            {
                f"{p.label} ({p.mode}) at {r.label}"
                for r in results
                for p in r.plans
                if any("SEQ SCAN ON jobs" in f for f in p.flags)
            }
        )
        print(f"sequential scans of jobs: {', '.join(seq) if seq else 'none'}")


async def scale(args: argparse.Namespace) -> None:
    print(
        f"scale: sizes {', '.join(f'{s:,}' for s in args.sizes)}; schema {args.schema}; "
        f"tenants {args.tenants}; finished jobs kept {', '.join(f'{n:,}' for n in args.finished)}; "
        f"concurrency {args.concurrency}; claims {args.claim_jobs:,} "
        f"per mode ({', '.join(args.claim_modes)})"
    )
    keys = [(size, finished) for size in args.sizes for finished in args.finished]
    rounds: dict[tuple[int, int], list[SizeFigures]] = {key: [] for key in keys}
    for number in range(args.rounds):
        if args.rounds > 1:
            print(f"\n##### round {number + 1} of {args.rounds}")
        for size, finished in keys:
            figures = await run_size(args, size, finished, explain=number == 0)
            rounds[(size, finished)].append(figures)
    if args.rounds > 1:
        print_rounds([rounds[key] for key in keys])
    print_summary([median_figures(rounds[key]) for key in keys], args.rounds)
    if not args.keep:
        await admin(args.dsn, "DROP SCHEMA IF EXISTS {schema} CASCADE", args.schema)


# -- memory of a worker process ----------------------------------------------------------------


def _drain_process(
    config: BenchConfig, ready: Event, go: Event, stop: Event, calls: Synchronized[int]
) -> None:
    """One worker process: the no-op app of rota.bench.workloads, run until ``stop``."""

    def on_job(_: int) -> None:
        with calls.get_lock():
            calls.value += 1

    async def main() -> None:
        app = make_app(config, on_job)
        worker = app.worker(concurrency=config.concurrency)
        await (await asyncio.to_thread(app.database)).pool()  # connected before ready
        settle_worker_heap()  # as `rota worker` does in its process (ADR 0014)
        ready.set()
        await asyncio.to_thread(go.wait)
        task = asyncio.create_task(worker.run(install_signals=False))
        await asyncio.to_thread(stop.wait)
        worker.stop()
        await task
        await app.close()

    asyncio.run(main())


def proc_status_kb(pid: int, field_name: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@dataclass(frozen=True)
class Sample:
    seconds: float
    done: int
    rss_kb: int


def write_samples(path: Path, samples: list[Sample]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["seconds", "jobs_done", "rss_kb"])
        writer.writerows((f"{s.seconds:.1f}", s.done, s.rss_kb) for s in samples)


async def _all_recorded(conn: psycopg.AsyncConnection[Any], schema: str) -> bool:
    query = sql.SQL(
        "SELECT NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE status = 'queued') "
        "AND NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE status = 'running')"
    ).format(s=sql.Identifier(schema))
    row = await (await conn.execute(query)).fetchone()
    return bool(row and row[0])


async def rss(args: argparse.Namespace) -> None:
    n = args.jobs
    fair = args.rss_claims == "fair"
    config = BenchConfig(args.dsn, args.schema, args.concurrency, settings=(("fair_claims", fair),))
    print(
        f"rss: one worker process (concurrency {args.concurrency}, {args.rss_claims} claims) "
        f"drains {n:,} no-op jobs"
    )
    await prepare_backlog(config, n, args.tenants, args.checkpoint, args.vacuum)
    context = mp.get_context("spawn")
    ready, go, stop = context.Event(), context.Event(), context.Event()
    calls: Synchronized[int] = context.Value("q", 0)
    process = context.Process(
        target=_drain_process, args=(config, ready, go, stop, calls), name="rota-scale-worker"
    )
    process.start()
    samples: list[Sample] = []
    marks: dict[int, Sample] = {}
    try:
        if not await asyncio.to_thread(ready.wait, 60):
            raise TimeoutError("the worker process did not become ready")
        assert process.pid is not None
        pid = process.pid
        startup = Sample(0.0, 0, proc_status_kb(pid, "VmRSS"))
        samples.append(startup)
        go.set()
        begin = time.perf_counter()
        next_sample, last_done, last_progress = begin + args.sample_seconds, 0, begin
        async with await psycopg.AsyncConnection.connect(args.dsn, autocommit=True) as conn:
            while True:
                await asyncio.sleep(0.2)
                now, done = time.perf_counter(), calls.value
                sample = Sample(now - begin, done, proc_status_kb(pid, "VmRSS"))
                if now >= next_sample:
                    samples.append(sample)
                    next_sample += args.sample_seconds
                for pct in (1, *range(10, 101, 10)):
                    if pct not in marks and done * 100 >= pct * n:
                        marks[pct] = sample
                if done != last_done:
                    last_done, last_progress = done, now
                elif now - last_progress > args.stall_seconds:
                    raise TimeoutError(f"no job ran for {args.stall_seconds:.0f} s at {done:,}")
                if not process.is_alive():
                    raise RuntimeError(f"the worker process exited ({process.exitcode})")
                if done >= n and await _all_recorded(conn, args.schema):
                    break
        elapsed = time.perf_counter() - begin
        end = Sample(elapsed, calls.value, proc_status_kb(pid, "VmRSS"))
        samples.append(end)
        hwm = proc_status_kb(pid, "VmHWM")
    finally:
        stop.set()
        await asyncio.to_thread(process.join, 60)
        if process.is_alive():
            process.kill()
    mib = 1024
    print(f"  drained {n:,} jobs in {elapsed:.0f} s: {n / elapsed:,.0f} jobs/s")
    print(f"  {'point':22} {'seconds':>8} {'jobs done':>11} {'RSS MiB':>9} {'jobs/s since':>13}")
    rows = [("after start-up", startup)]
    rows += [(f"{pct}%", marks[pct]) for pct in sorted(marks)]
    rows.append(("end (all recorded)", end))
    previous = startup
    for label, s in rows:
        seconds = s.seconds - previous.seconds
        ran = s.done - previous.done
        rate = f"{ran / seconds:13,.0f}" if seconds > 0 and ran else f"{'-':>13}"
        print(f"  {label:22} {s.seconds:8.1f} {s.done:11,} {s.rss_kb / mib:9.1f} {rate}")
        previous = s
    peak = max(samples + list(marks.values()), key=lambda s: s.rss_kb)
    print(
        f"  peak sampled RSS {peak.rss_kb / mib:.1f} MiB at {peak.seconds:.0f} s; "
        f"VmHWM (kernel's peak) {hwm / mib:.1f} MiB"
    )
    if 10 in marks:
        grow = end.rss_kb - marks[10].rss_kb
        print(
            f"  growth from 10% to the end: {grow / mib:+.1f} MiB "
            f"({grow * 1024 / max(1, n - marks[10].done):+.1f} bytes per job)"
        )
    if args.rss_csv:
        write_samples(Path(args.rss_csv), samples)
        print(f"  samples written to {args.rss_csv}")
    if not args.keep:
        await admin(args.dsn, "DROP SCHEMA IF EXISTS {schema} CASCADE", args.schema)


# -- command line ------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def _counts(text: str) -> list[int]:
    """Comma-separated counts of 0 or more (``_`` allowed as in 1_000_000)."""
    try:
        counts = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from None
    if not counts or any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(f"counts are 0 or more, comma-separated: {text!r}")
    return counts


def _names(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        wrong = [name for name in names if name not in choices]
        if wrong or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return names

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    assert __doc__ is not None
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("ROTA_DATABASE_URL"),
        help="PostgreSQL URL (default: $ROTA_DATABASE_URL)",
    )
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema to own (dropped!)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=1, help="spread the backlog over N tenants")
    parser.add_argument(
        "--no-checkpoint",
        dest="checkpoint",
        action="store_false",
        help="skip the CHECKPOINT after filling the backlog",
    )
    parser.add_argument(
        "--vacuum",
        action="store_true",
        help="VACUUM (ANALYZE) the backlog instead of ANALYZE (no autovacuum mid-measurement)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the last schema")
    scale_group = parser.add_argument_group("throughput")
    scale_group.add_argument("--sizes", type=_sizes, default=[20_000, 1_000_000])
    scale_group.add_argument(
        "--finished",
        type=_counts,
        default=[0],
        help="finished jobs kept ahead of each backlog, e.g. 0,1000000 (default 0)",
    )
    scale_group.add_argument("--singles", type=int, default=2000)
    scale_group.add_argument("--batches", type=int, default=20)
    scale_group.add_argument("--batch-size", type=int, default=1000)
    scale_group.add_argument("--claim-jobs", type=int, default=20_000)
    scale_group.add_argument(
        "--claim-modes", type=_names(("fair", "fifo")), default=["fair", "fifo"]
    )
    scale_group.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the sizes this many times, alternating, and compare medians (default 1)",
    )
    scale_group.add_argument("--plans", choices=("full", "summary", "none"), default="full")
    scale_group.add_argument(
        "--plan-modes", type=_names(("custom", "generic")), default=["custom", "generic"]
    )
    rss_group = parser.add_argument_group("memory")
    rss_group.add_argument("--rss", action="store_true", help="run the memory benchmark instead")
    rss_group.add_argument("--jobs", type=int, default=1_000_000)
    rss_group.add_argument("--rss-claims", choices=("fair", "fifo"), default="fair")
    rss_group.add_argument("--sample-seconds", type=float, default=1.0)
    rss_group.add_argument("--stall-seconds", type=float, default=120.0)
    rss_group.add_argument("--rss-csv", help="write every RSS sample to this CSV file")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("no database: pass --dsn or set ROTA_DATABASE_URL")
    if args.rounds < 1:
        parser.error("--rounds takes a number of rounds (1 or more)")
    if args.schema == "rota":
        parser.error("--schema rota is rota's default schema; this benchmark drops its schema")
    return args


if __name__ == "__main__":
    options = parse_args()
    asyncio.run(rss(options) if options.rss else scale(options))
