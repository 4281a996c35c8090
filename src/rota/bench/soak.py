"""The soak run: enqueue at a steady rate while worker processes are killed and restarted
at random, then account for every job (Jepsen's lost / duplicated), queue latency, table
bloat and worker memory over time. Not part of CI: ``rota bench soak --minutes N``."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

import rota
from rota.bench.soak_app import EFFECTS_DDL, SoakWork, declare

APP_SPEC = "rota.bench.soak_app:app"


@dataclass
class SoakReport:
    enqueued: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    duplicated_effects: int = 0
    missing_effects: int = 0
    reexecutions: int = 0
    max_queue_latency_s: float = 0.0
    kills: int = 0
    sizes_before: dict[str, int] = field(default_factory=dict)
    sizes_after: dict[str, int] = field(default_factory=dict)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _Workers:
    def __init__(self, url: str, schema: str, count: int) -> None:
        self.env = {
            **os.environ,
            "ROTA_DATABASE_URL": url,
            "ROTA_SCHEMA": schema,
            "ROTA_LEASE_SECONDS": "5",
            "ROTA_RESCUE_INTERVAL_SECONDS": "1",
            "ROTA_LOG_LEVEL": "WARNING",
        }
        self.processes = [self._spawn() for _ in range(count)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "rota", "worker", "--app", APP_SPEC],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self) -> None:
        index = random.randrange(len(self.processes))
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(10)
        self.processes[index] = self._spawn()

    def rss_kib(self) -> int:
        return sum(_rss_kib(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


async def soak(
    url: str,
    *,
    minutes: float,
    rate: float = 50.0,
    workers: int = 2,
    kill_every_seconds: float = 20.0,
    schema: str = "rota_soak",
    progress: Callable[[str], None] = print,
) -> SoakReport:
    report = SoakReport()
    app = declare(rota.App(url, schema_name=schema, log_level="WARNING"))
    app.migrate()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL(EFFECTS_DDL.format(schema="{schema}")).format(schema=sql.Identifier(schema))
        )
        report.sizes_before = await _sizes(conn, schema)
    pool = _Workers(url, schema, workers)
    acked: list[Any] = []
    begin = time.monotonic()
    end = begin + minutes * 60
    next_kill = begin + kill_every_seconds
    next_sample = begin
    sequence = 0
    try:
        while time.monotonic() < end:
            sequence += 1
            job = await app.enqueue(
                "soak.work",
                SoakWork(key=f"soak-{sequence}"),
                tenant_id=f"t{sequence % 5}",
                idempotency_key=f"soak-{sequence}",
            )
            acked.append(job.id)
            now = time.monotonic()
            if now >= next_kill:
                pool.kill_one()
                report.kills += 1
                next_kill = now + random.uniform(0.5, 1.5) * kill_every_seconds
            if now >= next_sample:
                report.rss_samples.append((now - begin, pool.rss_kib()))
                progress(
                    f"{now - begin:6.0f}s enqueued {len(acked)} kills {report.kills} "
                    f"worker RSS {pool.rss_kib() / 1024:.0f} MiB"
                )
                next_sample = now + 10
            await asyncio.sleep(max(0.0, begin + sequence / rate - time.monotonic()))
        report.enqueued = len(acked)
        await _wait_drained(url, schema, timeout=120)
    finally:
        pool.stop()
        await app.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await _account(conn, schema, acked, report)
        report.sizes_after = await _sizes(conn, schema)
    return report


async def _wait_drained(url: str, schema: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = sql.SQL("SELECT count(*) FROM {}.jobs WHERE status IN ('queued', 'running')").format(
        sql.Identifier(schema)
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = await (await conn.execute(query)).fetchone()
            if row and row[0] == 0:
                return
            await asyncio.sleep(0.5)


async def _account(
    conn: psycopg.AsyncConnection[Any], schema: str, acked: list[Any], report: SoakReport
) -> None:
    s = sql.Identifier(schema)

    async def one(query: sql.Composed, *params: Any) -> Any:
        row = await (await conn.execute(query, params)).fetchone()
        return row[0] if row else None

    report.by_status = {
        status: count
        for status, count in await (
            await conn.execute(sql.SQL("SELECT status, count(*) FROM {}.jobs GROUP BY 1").format(s))
        ).fetchall()
    }
    report.lost = await one(
        sql.SQL(
            "SELECT count(*) FROM unnest(%s::uuid[]) AS a(id) "
            "LEFT JOIN {}.jobs AS j ON j.id = a.id WHERE j.id IS NULL"
        ).format(s),
        acked,
    )
    report.duplicated_effects = await one(
        sql.SQL(
            "SELECT count(*) FROM (SELECT key FROM {}.soak_effects GROUP BY key "
            "HAVING count(*) > 1) AS d"
        ).format(s)
    )
    report.missing_effects = await one(
        sql.SQL(
            "SELECT count(*) FROM {}.jobs AS j WHERE j.status = 'succeeded' AND NOT EXISTS "
            "(SELECT 1 FROM {}.soak_effects AS e WHERE e.job_id = j.id)"
        ).format(s, s)
    )
    report.reexecutions = await one(
        sql.SQL("SELECT count(*) FROM {}.job_runs WHERE attempt > 1").format(s)
    )
    report.max_queue_latency_s = float(
        await one(
            sql.SQL(
                "SELECT COALESCE(max(extract(epoch FROM e.at - j.created_at)), 0) "
                "FROM {}.jobs AS j JOIN {}.job_events AS e ON e.job_id = j.id "
                "AND e.to_status = 'running' AND e.attempt = 1"
            ).format(s, s)
        )
        or 0
    )


async def _sizes(conn: psycopg.AsyncConnection[Any], schema: str) -> dict[str, int]:
    rows = await (
        await conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        )
    ).fetchall()
    return {name: size for name, size in rows}
