"""The claimer: which statement claims each queue's jobs.

FIFO queues are claimed together by one statement (``claim_jobs.sql``). Fair queues are
claimed one by one in weighted round robin across tenants (``scan_tenants.sql`` then
``claim_jobs_fair.sql``), with tenant caps, global type caps and rate limits counted in the
database. Each worker keeps its own cursor per fair queue, so claimers share no hot row.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from uuid import UUID

from rota.config import Settings
from rota.core.job import Job
from rota.core.registry import Registry
from rota.store.claims import ClaimStore, FairClaim
from rota.store.jobs import JobStore

_CAPS_CHECK_SECONDS = 5.0


class Claimer:
    def __init__(
        self,
        *,
        jobs: JobStore,
        claims: ClaimStore,
        registry: Registry,
        settings: Settings,
        worker_id: UUID,
    ) -> None:
        self._jobs = jobs
        self._claims = claims
        self._registry = registry
        self._settings = settings
        self._worker_id = worker_id
        self._cursors: dict[str, str] = {}
        self._has_tenant_caps = False
        self._caps_checked_at = 0.0
        self.wake_in: float | None = None  # when a rate limit next allows a start

    def is_fair(self, queue: str) -> bool:
        return self._registry.queue_fairness.get(queue, self._settings.fair_claims)

    async def claim(
        self, queues: Sequence[str], limit: int, excluded_types: Sequence[str]
    ) -> list[Job]:
        self.wake_in = None
        fifo = [queue for queue in queues if not self.is_fair(queue)]
        fair = [queue for queue in queues if self.is_fair(queue)]
        claimed: list[Job] = []
        if fifo:
            claimed += await self._jobs.claim_jobs(
                worker_id=self._worker_id,
                queues=fifo,
                excluded_types=excluded_types,
                limit=limit,
                lease_seconds=self._settings.lease_seconds,
            )
        if fair:
            await self._refresh_caps()
            random.shuffle(fair)  # no queue is always served first
        for queue in fair:
            room = limit - len(claimed)
            if room <= 0:
                break
            jobs, self._cursors[queue], wake_in = await self._claims.claim_fair(
                self._fair_claim(queue, room, excluded_types)
            )
            if wake_in is not None:
                self.wake_in = wake_in if self.wake_in is None else min(self.wake_in, wake_in)
            claimed += jobs
        return claimed

    def _fair_claim(self, queue: str, limit: int, excluded_types: Sequence[str]) -> FairClaim:
        types = [t for t in self._registry if t.queue == queue]
        return FairClaim(
            queue=queue,
            cursor=self._cursors.get(queue, ""),
            limit=limit,
            worker_id=self._worker_id,
            lease_seconds=self._settings.lease_seconds,
            excluded_types=list(excluded_types),
            type_caps={t.key: t.global_concurrency for t in types if t.global_concurrency},
            rate_limits={t.key: t.rate_limit for t in types if t.rate_limit},
            tenant_rate_limits={t.key: t.tenant_rate_limit for t in types if t.tenant_rate_limit},
            default_weight=self._settings.tenant_default_weight,
            default_max_running=self._settings.tenant_max_running,
            lock_tenants=self._has_tenant_caps or self._settings.tenant_max_running is not None,
        )

    async def _refresh_caps(self) -> None:
        now = time.monotonic()
        if now - self._caps_checked_at > _CAPS_CHECK_SECONDS:
            self._has_tenant_caps = await self._claims.has_tenant_caps()
            self._caps_checked_at = now
