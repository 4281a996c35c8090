"""A worker that dies at each fixed point of a run: the job still ends succeeded, its effect
happened once, and the attempts show what the crash cost (issue 6)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import rota
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow
Conn = psycopg.AsyncConnection[Any]


@pytest.mark.parametrize(
    ("point", "attempts", "starts"),
    [
        ("after_claim", 2, 1),  # claimed, never started: rescued, attempt 2 runs it
        ("before_complete", 2, 2),  # effect done, success not written: runs again, effect once
        ("after_complete", 1, 1),  # success committed: nothing runs again
    ],
)
async def test_a_crash_at_each_point_loses_nothing(
    make_app: Callable[..., rota.App],
    spawn: Callable[..., subprocess.Popen[bytes]],
    db: Conn,
    point: str,
    attempts: int,
    starts: int,
) -> None:
    app = apps.register(make_app())
    job = await app.enqueue(
        "test.work",
        apps.Work(seconds=0, key="crash-effect"),
        tenant_id="acme",
        idempotency_key="crash-effect",
    )
    crashing = spawn("--concurrency", "1", ROTA_TEST_CRASH_AT=point)
    assert await asyncio.to_thread(crashing.wait, 30) == 77
    spawn("--concurrency", "1")

    async def succeeded() -> bool:
        return (await app.get_job(job.id)).status is rota.JobStatus.SUCCEEDED

    await eventually(succeeded, timeout=30)
    done = await app.get_job(job.id)
    assert done.attempt == attempts
    rows = await (
        await db.execute(
            "SELECT (SELECT count(*) FROM effects) AS effects, "
            "(SELECT count(*) FROM exec_log WHERE phase = 'start') AS starts"
        )
    ).fetchone()
    assert rows is not None
    assert (rows["effects"], rows["starts"]) == (1, starts)
    await app.close()
