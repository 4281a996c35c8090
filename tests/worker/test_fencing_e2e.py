"""A worker whose lease was taken over cannot write the job's outcome (issue 2)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

import rota
from rota.store.jobs import Completion
from tests.support.waiting import eventually
from tests.worker.helpers import running_worker

Conn = psycopg.AsyncConnection[Any]


async def test_a_stale_workers_completion_is_rejected_and_logged(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    # No heartbeat or rescue falls inside the test: the lease ends only when the test says.
    app = make_app(lease_seconds=60.0, heartbeat_seconds=59.0, rescue_interval_seconds=60)
    entered = threading.Event()
    release = threading.Event()

    @app.job("e.slow", timeout=60)
    def slow(ctx: rota.JobContext, payload: dict[str, Any]) -> str:
        entered.set()
        release.wait(30)
        return "from the stale run"

    job = await app.enqueue("e.slow", {}, tenant_id="acme")
    store = app.jobs_store()
    # One slot, held by the blocked handler: this worker cannot re-claim the rescued job.
    async with running_worker(app, concurrency=1):
        await asyncio.to_thread(entered.wait, 10)
        # The lease runs out (e.g. the worker froze), another worker rescues and re-claims.
        await db.execute(
            "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = %s", (job.id,)
        )
        await store.rescue_jobs(10)
        other = uuid.uuid4()
        [reclaimed] = await store.claim_jobs(
            worker_id=other, queues=["default"], excluded_types=[], limit=1, lease_seconds=30
        )
        assert reclaimed.attempt == 2
        done = await store.complete_jobs(other, [Completion(job.id, 2, '"from the new run"')])
        assert done == [True]
        release.set()

        async def stale_write_logged() -> bool:
            events = await app.job_events(job.id)
            return any(e["kind"] == "stale_write" and e["attempt"] == 1 for e in events)

        await eventually(stale_write_logged, timeout=15)
    done = await app.get_job(job.id)
    assert done.status is rota.JobStatus.SUCCEEDED
    assert done.result == "from the new run"
    assert done.attempt == 2
    await app.close()
