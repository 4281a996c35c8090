"""The user scheduler: enqueues the due ticks of tenants' schedules (``scheduled_jobs``).

Due schedules are locked with SKIP LOCKED; each tick's job is enqueued with the schedule's
tenant, the schedule id as correlation id and a deterministic idempotency key, and the
schedule is advanced, all in one transaction. After downtime a schedule fires once for its
missed ticks, then resumes at its next tick after now.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from rota.core.registry import Registry
from rota.core.requests import JobRequest, build_job
from rota.core.schedule import Recurrence
from rota.errors import RotaError
from rota.store.schedules import ScheduleStore

log = logging.getLogger("rota.scheduler")

BATCH = 100


def recurrence_of(row: dict[str, Any]) -> Recurrence:
    return Recurrence(
        kind=row["kind"],
        timezone=row["timezone"],
        time_of_day=row["time_of_day"],
        weekdays=tuple(row["weekdays"] or ()),
        day_of_month=row["day_of_month"],
        cron=row["cron"],
    )


def tick_key(schedule_id: object, tick: datetime) -> str:
    """The idempotency key of one tick: the same tick can never make a second job."""
    # In UTC: the same tick must be spelled the same whatever a session's time zone.
    return f"schedule:{schedule_id}:{tick.astimezone(UTC).isoformat()}"


class UserScheduler:
    def __init__(self, store: ScheduleStore, registry: Registry, *, payload_max_bytes: int):
        self._store = store
        self._registry = registry
        self._payload_max_bytes = payload_max_bytes

    async def run_once(self) -> int:
        """Enqueue every due tick; returns how many jobs were enqueued."""
        total = 0
        while True:
            enqueued, claimed = await self._run_batch()
            total += enqueued
            if claimed < BATCH:
                return total

    async def _run_batch(self) -> tuple[int, int]:
        enqueued = 0
        async with self._store.transaction() as conn:
            rows = await self._store.claim_due_schedules(conn, BATCH)
            if not rows:
                return 0, 0
            now = await self._store.database_now()
            for row in rows:
                tick: datetime = row["next_run_at"]
                job_id = None
                try:
                    job = build_job(
                        self._registry,
                        JobRequest(
                            row["type"],
                            row["payload"],
                            tenant_id=row["tenant_id"],
                            correlation_id=str(row["id"]),
                            idempotency_key=tick_key(row["id"], tick),
                        ),
                        self._payload_max_bytes,
                    )
                    [done] = await self._store.jobs.insert_jobs([job], conn)
                    job_id = done.id
                    enqueued += 1
                except RotaError as error:
                    # The type or its model changed since the schedule was made: skip this
                    # tick rather than stall the schedule (or every schedule behind it).
                    log.error(
                        "schedule tick skipped",
                        extra={
                            "schedule_id": str(row["id"]),
                            "tenant_id": row["tenant_id"],
                            "error_code": error.code,
                            "error": error.message,
                        },
                    )
                next_run_at = recurrence_of(row).next_after(max(now, tick))
                await self._store.advance_schedule(conn, row["id"], job_id, next_run_at)
        return enqueued, len(rows)
