"""Batches successful completions: whatever finished while the last write was in flight goes
into the next single ``complete_jobs`` statement. Idle, a completion is written at once."""

from __future__ import annotations

import asyncio
from collections import deque
from uuid import UUID

from rota.core.loops import stop_tasks
from rota.store.db import OwnConnection
from rota.store.jobs import Completion, JobStore

_MAX_BATCH = 500


class Completer:
    def __init__(self, store: JobStore, worker_id: UUID) -> None:
        self._store = store
        self._worker_id = worker_id
        self._pending: deque[tuple[Completion, asyncio.Future[bool]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Generic plans: the completion's plan probes the primary key once per id whatever the
        # table holds. PostgreSQL's first five (custom) plans of it can instead scan the whole
        # table and test every id against every row when the table is small (statistics from
        # a nearly empty table): 462 against 552 million database instructions for 3,000
        # completions in batches of 50 on a table of 3,000 jobs.
        self._conn = OwnConnection(
            store.db, "rota-complete", session={"plan_cache_mode": "force_generic_plan"}
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rota-completer")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks(self._task)
        await self._conn.close()

    async def complete(self, completion: Completion) -> bool:
        """Record a success; True if this worker still held the lease (False: fenced out)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((completion, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._pending.popleft() for _ in range(min(len(self._pending), _MAX_BATCH))]
            # In id order, the order release_jobs.sql locks rows in: a completion and a release
            # of some of the same jobs (at shutdown) then cannot deadlock.
            batch.sort(key=_by_job_id)
            try:
                async with self._conn.use() as conn:
                    done = await self._store.complete_jobs(
                        self._worker_id, [c for c, _ in batch], conn
                    )
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), took in zip(batch, done, strict=True):
                if not future.done():
                    future.set_result(took)


def _by_job_id(item: tuple[Completion, asyncio.Future[bool]]) -> int:
    # The id's 128-bit integer: the order PostgreSQL sorts uuids in (byte by byte), compared in
    # C. UUID objects compare through UUID.__lt__, a Python call per comparison: sorting a
    # batch of 35 took about 20 us that way, 4 us this way.
    return item[0].id.int
