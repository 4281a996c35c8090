"""The rescuer: re-queues (or poisons) running jobs whose lease expired. Every worker runs
it; the statement is safe to run concurrently."""

from __future__ import annotations

import logging

from rota.store.jobs import JobStore

log = logging.getLogger("rota.rescuer")

RESCUE_BATCH = 1000


class Rescuer:
    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def run_once(self) -> int:
        """One pass; returns how many jobs it rescued."""
        total = 0
        while True:
            rows = await self._store.rescue_jobs(RESCUE_BATCH)
            for row in rows:
                log.warning(
                    "lease expired",
                    extra={
                        "job_id": str(row["id"]),
                        "attempt": row["attempt"],
                        "status": row["status"],
                    },
                )
            total += len(rows)
            if len(rows) < RESCUE_BATCH:
                return total
