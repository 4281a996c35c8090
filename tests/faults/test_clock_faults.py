"""Worker hosts whose clocks are off: rota decides by database time, so nothing changes.

A ``sitecustomize`` on the worker's PYTHONPATH shifts its wall clock as Python code reads it
(``time.time`` and ``time.time_ns``, which logging uses) by an hour either way; the
monotonic clock, like a real skewed host's, is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import rota
from tests.faults.harness import Conn, Fleet, scalar
from tests.faults.invariants import assert_invariants
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

SKEW = """
import time
_time, _time_ns = time.time, time.time_ns
time.time = lambda: _time() + {offset}
time.time_ns = lambda: _time_ns() + {offset} * 1_000_000_000
"""


def skewed_env(tmp_path: Path, offset: int) -> dict[str, str]:
    folder = tmp_path / f"skew{offset}"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SKEW.format(offset=offset))
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    }


async def test_workers_with_skewed_clocks_run_jobs_by_database_time(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn, tmp_path: Path
) -> None:
    app = apps.register(make_app())
    delayed = await app.enqueue(
        "test.work",
        apps.Work(seconds=0, key="later"),
        tenant_id="acme",
        idempotency_key="later",
        run_after=timedelta(seconds=3),
    )
    now = [
        await app.enqueue(
            "test.work",
            apps.Work(seconds=0.1, key=f"now{n}"),
            tenant_id="acme",
            idempotency_key=f"now{n}",
        )
        for n in range(20)
    ]
    fleet.start(concurrency=4, **skewed_env(tmp_path, 3600))  # an hour ahead
    fleet.start(concurrency=4, **skewed_env(tmp_path, -3600))  # an hour behind

    async def all_done() -> bool:
        return await scalar(conn, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 21

    await eventually(all_done, timeout=60, interval=0.2)
    # The worker an hour ahead did not start the delayed job early (database time decides).
    early = await scalar(
        conn, "SELECT count(*) FROM jobs WHERE started_at < run_after AND id = %s", delayed.id
    )
    assert early == 0
    await assert_invariants(conn, acked=[delayed.id, *(job.id for job in now)])
    await app.close()
