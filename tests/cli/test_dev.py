"""``rota dev`` as a real subprocess: it runs the demo's jobs and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from typing import Any

import psycopg

from rota.demo.app import TENANTS
from tests.cli.test_cli import REPO_ROOT, cli_env

SUCCEEDED = re.compile(r"^jobs: .*\bsucceeded=(\d+)\b")
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0


async def read_until(
    stream: asyncio.StreamReader, seen: list[str], done: Any, deadline: float
) -> str:
    """Collect lines into ``seen`` until ``done(line)`` is true; fail at ``deadline``."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("rota dev did not get there in time; output:\n" + "".join(seen))
        try:
            raw = await asyncio.wait_for(stream.readline(), remaining)
        except TimeoutError:
            continue
        if not raw:
            raise AssertionError("rota dev closed its output early; output:\n" + "".join(seen))
        line = raw.decode(errors="replace")
        seen.append(line)
        if done(line):
            return line


def shows_three_succeeded(line: str) -> bool:
    match = SUCCEEDED.match(line.strip())
    return match is not None and int(match.group(1)) >= 3


async def test_dev_runs_demo_jobs_and_stops_on_sigint(
    postgres_url: str, schema: str, db: psycopg.AsyncConnection[dict[str, Any]]
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rota",
        "dev",
        cwd=REPO_ROOT,
        env=cli_env(postgres_url, schema),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stderr_task = asyncio.create_task(process.stderr.read())
    seen: list[str] = []
    try:
        await read_until(
            process.stdout, seen, shows_three_succeeded, time.monotonic() + START_DEADLINE
        )

        process.send_signal(signal.SIGINT)
        stop_deadline = time.monotonic() + STOP_DEADLINE
        await read_until(
            process.stdout, seen, lambda line: "rota dev stopped" in line, stop_deadline
        )
        code = await asyncio.wait_for(process.wait(), max(0.1, stop_deadline - time.monotonic()))
        stderr = (await asyncio.wait_for(stderr_task, STOP_DEADLINE)).decode(errors="replace")
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        if not stderr_task.done():
            stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stderr_task

    output = "".join(seen)
    assert code == 0, output + stderr
    assert "Traceback" not in stderr, stderr
    assert "rota dev stopped" in output

    cursor = await db.execute(
        "SELECT DISTINCT tenant_id FROM jobs WHERE tenant_id IS NOT NULL ORDER BY tenant_id"
    )
    tenants = {row["tenant_id"] for row in await cursor.fetchall()}
    assert tenants == set(TENANTS)
    cursor = await db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'")
    row = await cursor.fetchone()
    assert row is not None
    assert row["n"] >= 3
    cursor = await db.execute("SELECT count(*) AS n FROM jobs WHERE status = 'running'")
    assert await cursor.fetchone() == {"n": 0}
