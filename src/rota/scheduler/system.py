"""The system scheduler: fires the ticks of schedules declared in code.

Any number of worker processes run it. Each tick is fired by one INSERT of the tick row and
its job, and the tick table's primary key lets exactly one of them win: no leader to elect,
nothing to split-brain. Due ticks are decided by database time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from rota.core.registry import Registry
from rota.core.requests import JobRequest, build_job
from rota.store.schedules import ScheduleStore

log = logging.getLogger("rota.scheduler")


class SystemScheduler:
    def __init__(
        self,
        store: ScheduleStore,
        registry: Registry,
        *,
        grace_seconds: float,
        payload_max_bytes: int,
    ) -> None:
        self._store = store
        self._registry = registry
        self._grace = timedelta(seconds=grace_seconds)
        self._payload_max_bytes = payload_max_bytes

    async def run_once(self, now: datetime | None = None) -> int:
        """Fire every due tick; returns how many this scheduler fired. ``now`` overrides the
        database clock (tests)."""
        schedules = list(self._registry.schedules.values())
        if not schedules:
            return 0
        last_ticks, database_now = await self._store.last_ticks([s.key for s in schedules])
        now = now or database_now
        fired = 0
        for schedule in schedules:
            for tick in schedule.due_ticks(last_ticks.get(schedule.key), now, self._grace):
                job = build_job(
                    self._registry,
                    JobRequest(schedule.job_type, schedule.payload),
                    self._payload_max_bytes,
                )
                if await self._store.record_tick(schedule.key, tick, job):
                    fired += 1
                    log.info(
                        "schedule tick fired",
                        extra={
                            "schedule": schedule.key,
                            "tick_at": tick.isoformat(),
                            "job_id": str(job.id),
                        },
                    )
        return fired
