"""Retention: deletes finished jobs older than the retention age, in batches, with their
events and runs; forgets long-silent worker rows and old schedule ticks."""

from __future__ import annotations

import logging

from rota.store.jobs import JobStore
from rota.store.schedules import ScheduleStore
from rota.store.workers import WorkerStore

log = logging.getLogger("rota.pruner")


class Pruner:
    def __init__(
        self,
        store: JobStore,
        workers: WorkerStore,
        schedules: ScheduleStore,
        *,
        retention_seconds: float,
        batch_size: int,
    ) -> None:
        self._store = store
        self._workers = workers
        self._schedules = schedules
        self._retention_seconds = retention_seconds
        self._batch_size = batch_size

    async def run_once(self) -> int:
        """One pass; returns how many jobs it deleted."""
        total = 0
        while True:
            deleted = await self._store.prune_jobs(self._retention_seconds, self._batch_size)
            total += deleted
            if deleted < self._batch_size:
                break
        await self._workers.prune_workers(max(self._retention_seconds, 3600.0))
        # Ticks outlive their jobs by a day, so a pruned job never lets a tick fire again.
        await self._schedules.prune_ticks(self._retention_seconds + 86400.0)
        if total:
            log.info("pruned finished jobs", extra={"deleted": total})
        return total
