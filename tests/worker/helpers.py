"""Run a worker in the test's event loop and read jobs back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import rota
from rota.worker.worker import Worker
from tests.support.waiting import eventually


@contextlib.asynccontextmanager
async def running_worker(app: rota.App, **options: Any) -> AsyncIterator[Worker]:
    worker = app.worker(**options)
    task = asyncio.create_task(worker.run(install_signals=False))
    started = asyncio.create_task(worker.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)


async def wait_status(
    app: rota.App, job_id: UUID, *statuses: rota.JobStatus, timeout: float = 15.0
) -> rota.Job:
    async def probe() -> rota.Job | None:
        job = await app.get_job(job_id)
        return job if job.status in statuses else None

    return await eventually(probe, timeout=timeout)


async def transitions(app: rota.App, job_id: UUID) -> list[tuple[str, str]]:
    return [
        (e["from_status"], e["to_status"])
        for e in await app.job_events(job_id)
        if e["kind"] == "transition"
    ]
