"""A test application for worker processes started by the tests (``--app
tests.support.apps:app``). Its database and schema come from ROTA_* variables.

Handlers write to ``effects`` (keyed by idempotency key, ON CONFLICT DO NOTHING) and
``exec_log`` (every start and end) in the job's schema, so tests can count executions and
effects from the database.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import psycopg
from pydantic import BaseModel

import rota

app = rota.App()

SETUP_SQL = """
CREATE TABLE IF NOT EXISTS {schema}.exec_log (
    job_id uuid, attempt integer, phase text, pid integer, at timestamptz DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS {schema}.effects (
    key text PRIMARY KEY, job_id uuid, attempt integer
);
"""


class Work(BaseModel):
    seconds: float = 0.0
    key: str | None = None


def _log(ctx: rota.JobContext, phase: str) -> None:
    schema = app.settings.schema_name
    with psycopg.connect(app.database_url(), autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {schema}.exec_log (job_id, attempt, phase, pid) VALUES (%s, %s, %s, %s)",
            (ctx.job_id, ctx.attempt, phase, os.getpid()),
        )


def _effect(ctx: rota.JobContext, key: str) -> None:
    schema = app.settings.schema_name
    with psycopg.connect(app.database_url(), autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {schema}.effects (key, job_id, attempt) "
            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (key, ctx.job_id, ctx.attempt),
        )


def work(ctx: rota.JobContext, payload: Work) -> dict[str, Any]:
    """Sleeps (in a thread), then records its effect once per key."""
    _log(ctx, "start")
    time.sleep(payload.seconds)
    if payload.key:
        _effect(ctx, payload.key)
    _log(ctx, "end")
    return {"pid": os.getpid()}


async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
    """Does nothing: executions are counted from job_events and job_runs."""


def crash(ctx: rota.JobContext, payload: Work) -> None:
    """Kills its own worker process on every attempt (a segfault or OOM kill, in effect)."""
    _log(ctx, "start")
    os._exit(1)


def hang(ctx: rota.JobContext, payload: Work) -> None:
    """Sleeps in a thread past its 1 s timeout, ignoring cancellation, then logs its end."""
    _log(ctx, "start")
    time.sleep(payload.seconds)
    _log(ctx, "end")


async def hang_async(ctx: rota.JobContext, payload: Work) -> None:
    """Awaits far past its 1 s timeout (it is cancelled there)."""
    await asyncio.to_thread(_log, ctx, "start")
    await asyncio.sleep(3600)


async def block(ctx: rota.JobContext, payload: Work) -> dict[str, Any]:
    """Blocks the worker's event loop with a synchronous sleep, then records its effect."""
    _log(ctx, "start")
    time.sleep(payload.seconds)
    if payload.key:
        _effect(ctx, payload.key)
    _log(ctx, "end")
    return {"pid": os.getpid()}


def register(target: rota.App) -> rota.App:
    """Declare the test job types on ``target`` (the worker's app or a test's)."""
    target.job("test.work", max_attempts=25, timeout=60)(work)
    target.job("test.noop", max_attempts=5)(noop)
    target.job("test.tick", system=True)(noop)
    target.job("test.limited", rate_limit=(4, 1.0))(noop)
    if os.environ.get("ROTA_TEST_TICK_EVERY_SECOND"):
        target.schedule("test.tick", cron="* * * * * *")
    # Fault-injection types (tests/faults); run them only in spawned worker processes.
    quick_retry = rota.Backoff(base=timedelta(seconds=0.1), cap=timedelta(seconds=0.2))
    target.job("test.crash", max_attempts=3, timeout=60)(crash)
    target.job("test.hang", max_attempts=2, timeout=1, backoff=quick_retry)(hang)
    target.job("test.hang_async", max_attempts=2, timeout=1, backoff=quick_retry)(hang_async)
    target.job("test.block", max_attempts=25, timeout=60)(block)
    return target


register(app)


def setup_tables(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP_SQL.format(schema=schema))  # type: ignore[arg-type]  # test DDL
