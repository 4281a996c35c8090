"""The fault-injection harness: fleets of real worker processes, private PostgreSQL servers
for the scenarios that disrupt the server, and plain connections to read outcomes back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

import rota
from rota.store.postgres_server import LocalPostgres, find_bindir
from tests.conftest import TEST_SETTINGS
from tests.support import apps
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
Conn = psycopg.AsyncConnection[Any]

# Timings of worker processes: a 2 s lease, rescued within 0.5 s of its end.
WORKER_ENV = {
    "ROTA_LEASE_SECONDS": "2",
    "ROTA_RESCUE_INTERVAL_SECONDS": "0.5",
    "ROTA_POLL_INTERVAL_SECONDS": "0.5",
    "ROTA_SHUTDOWN_GRACE_SECONDS": "10",
    "ROTA_LOG_FORMAT": "text",
}
# Timings of in-process apps (enqueuers, in-process workers).
APP_SETTINGS: dict[str, Any] = {
    "poll_interval_seconds": 0.5,
    "lease_seconds": 3.0,
    "rescue_interval_seconds": 0.5,
    "shutdown_grace_seconds": 5.0,
    "log_format": "text",
}


@dataclass
class Fleet:
    """Worker processes (``rota worker --app tests.support.apps:app``) on one schema. Each
    process logs to its own file under ``logs`` (shown when a scenario fails)."""

    url: str
    schema: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, concurrency: int = 4, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            **WORKER_ENV,
            "ROTA_DATABASE_URL": self.url,
            "ROTA_SCHEMA": self.schema,
            **env,
        }
        log = self.logs / f"worker-{len(self.processes)}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rota",
                    "worker",
                    "--app",
                    "tests.support.apps:app",
                    "--concurrency",
                    str(concurrency),
                    *args,
                ],
                cwd=ROOT,
                env=environment,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    async def wait(self, process: subprocess.Popen[bytes], timeout: float) -> int:
        return await asyncio.to_thread(process.wait, timeout)

    def log_tail(self, lines: int = 15) -> str:
        tails = []
        for log in sorted(self.logs.glob("worker-*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(tails)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()  # SIGKILL also ends a SIGSTOPped process
                process.wait(10)


@dataclass
class PrivateDatabase:
    """A PostgreSQL server of the test's own, with one migrated schema and the test tables."""

    server: LocalPostgres
    schema: str

    @property
    def url(self) -> str:
        return self.server.url

    def app(self, **settings: Any) -> rota.App:
        return rota.App(self.url, schema_name=self.schema, **{**APP_SETTINGS, **settings})

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``, same port."""
        self.server.restart(mode)


def start_private_server() -> tuple[LocalPostgres, Path]:
    """A new PostgreSQL server on a fresh data directory; returns it and its base directory."""
    base = Path(tempfile.mkdtemp(prefix="rota-faults-"))
    base.chmod(0o755)  # the service user (under root) must reach the data directory
    server = LocalPostgres(
        base / "pg",
        find_bindir(os.environ.get("ROTA_TEST_PG_BINDIR"), prefer="system"),
        settings=TEST_SETTINGS,
    )
    server.ensure_running()
    return server, base


async def connect(url: str, schema: str) -> Conn:
    """An autocommit connection on ``schema``; its application name is not rota's."""
    conn = await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name="faults-test"
    )
    await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


async def scalar(conn: Conn, query: str, *params: Any) -> Any:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return row[0]


async def rows(conn: Conn, query: str, *params: Any) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(query, params)
    return list(await cursor.fetchall())


async def all_succeeded(conn: Conn, total: int, job_type: str = "test.work") -> bool:
    query = "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND type = %s"
    return bool(await scalar(conn, query, job_type) == total)


async def in_flight(conn: Conn, pid: int) -> list[tuple[Any, ...]]:
    """(job_id, attempt) of the handlers that started in process ``pid`` and have not ended."""
    return await rows(
        conn,
        "SELECT s.job_id, s.attempt FROM exec_log AS s WHERE s.phase = 'start' AND s.pid = %s "
        "AND NOT EXISTS (SELECT 1 FROM exec_log AS e WHERE e.job_id = s.job_id "
        "AND e.attempt = s.attempt AND e.phase = 'end')",
        pid,
    )


async def registered(conn: Conn, *processes: subprocess.Popen[bytes]) -> None:
    """Wait until every process has registered as a worker (it is past its start-up)."""
    pids = [p.pid for p in processes]

    async def all_registered() -> bool:
        query = "SELECT count(*) FROM workers WHERE pid = ANY(%s) AND stopped_at IS NULL"
        return bool(await scalar(conn, query, pids) == len(pids))

    await eventually(all_registered, timeout=30)


async def worker_id(conn: Conn, pid: int) -> Any:
    """The id under which the worker process ``pid`` registered (None before it did)."""
    found = await rows(conn, "SELECT id FROM workers WHERE pid = %s", pid)
    return found[0][0] if found else None


def work(
    n: int, *, seconds: float = 0.0, tenants: int = 3, prefix: str = "k"
) -> list[rota.JobRequest]:
    """``n`` test.work jobs with distinct idempotency keys, each its effect's key."""
    return [
        rota.JobRequest(
            "test.work",
            apps.Work(seconds=seconds, key=f"{prefix}{i}"),
            tenant_id=f"t{i % tenants}",
            idempotency_key=f"{prefix}{i}",
        )
        for i in range(n)
    ]
