"""The claimer: which statement claims each queue's jobs.

FIFO queues are claimed together by one statement (``claim_jobs.sql``). Fair queues are
claimed one by one in weighted round robin across tenants (``scan_tenants.sql`` then
``claim_jobs_fair.sql``), with tenant caps, global type caps and rate limits counted in the
database; a claim with no type cap or rate limit runs ``claim_jobs_fair_open.sql``, which
leaves the per-type counting out. Each worker keeps its own cursor per fair queue, so
claimers share no hot row.

An idle worker claims by id: when a queue's last claim found nothing and the queue has no
limits, the ids a wake-up NOTIFY carried (migration 0007) are claimed by primary key
(``claim_jobs_by_id.sql``) instead of walking the queue. Only new jobs arriving at a drained
queue take that path, so priority and tenant order under a backlog are the full claim's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from uuid import UUID

from rota.config import Settings
from rota.core.job import Job
from rota.core.limits import sooner
from rota.core.registry import Registry
from rota.store.claims import ClaimStore, FairClaim
from rota.store.jobs import JobStore

_CAPS_CHECK_SECONDS = 5.0
# Notified ids kept per queue until the next claim; past this, the full claim finds them.
_MAX_NOTIFIED = 256


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
        # The last claim took jobs but fewer than it asked for: a claim takes one priority of
        # each queue, so a later priority may have due jobs for the slots left.
        self.look_again = False
        # Queues whose last full claim found nothing due, and the ids announced since.
        self._drained: set[str] = set()
        self._notified: dict[str, list[UUID]] = {}
        self._limited_queues = set(registry.queue_concurrency) | {
            t.queue
            for t in registry
            if t.concurrency or t.global_concurrency or t.rate_limit or t.tenant_rate_limit
        }
        self.claims_by_id = 0  # how many claims took the by-id path (for tests and stats)
        # Free slots offered per queue for the hand-off at enqueue (ADR 0012), as last written;
        # each job handed off takes one.
        self._offered: dict[str, int] = {}
        self._ever_offered = False

    def is_fair(self, queue: str) -> bool:
        return self._registry.queue_fairness.get(queue, self._settings.fair_claims)

    def notified(self, queue: str, ids: str) -> None:
        """New due jobs in ``queue`` announced by a wake-up NOTIFY (``ids`` comma-separated);
        read only while the queue is drained."""
        if queue not in self._drained:
            return  # the next full claim finds them
        try:
            announced = [UUID(i) for i in ids.split(",")]
        except ValueError:
            return  # not rota's payload: the wake-up alone still stands
        pending = self._notified.setdefault(queue, [])
        if len(pending) + len(announced) > _MAX_NOTIFIED:
            self._drained.discard(queue)  # a burst: claim it the usual way
            self._notified.pop(queue, None)
            return
        pending.extend(announced)

    async def claim(
        self, queues: Sequence[str], limit: int, excluded_types: Sequence[str]
    ) -> list[Job]:
        self.wake_in = None
        self.look_again = False
        if not excluded_types:
            jobs = await self._claim_notified(queues, limit)
            if jobs:
                return jobs
        for queue in queues:
            self._notified.pop(queue, None)  # this claim sees every job announced so far
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
            self._mark_drained(fifo, full=len(claimed) >= limit)
            self.look_again = 0 < len(claimed) < limit
        if fair:
            await self._refresh_caps()
            random.shuffle(fair)  # no queue is always served first
            self._drained.difference_update(fair)  # until this claim has looked at them
        for queue in fair:
            room = limit - len(claimed)
            if room <= 0:
                break
            jobs, self._cursors[queue], wake_in = await self._claims.claim_fair(
                self._fair_claim(queue, room, excluded_types)
            )
            self.wake_in = sooner(self.wake_in, wake_in)
            self._mark_drained([queue], full=len(jobs) >= room)
            self.look_again = self.look_again or 0 < len(jobs) < room
            claimed += jobs
        return claimed

    def _mark_drained(self, queues: Sequence[str], *, full: bool) -> None:
        """A claim that took fewer jobs than it asked for found nothing more due (nothing not
        already being claimed by another worker): its queues are drained until a claim is
        cut off by its limit or a rate limit held jobs back."""
        if full or self.wake_in is not None:
            self._drained.difference_update(queues)
        else:
            self._drained.update(queues)

    async def _claim_notified(self, queues: Sequence[str], limit: int) -> list[Job]:
        """Claim announced jobs by id, for drained queues without limits."""
        ready = [q for q in queues if q in self._drained and self._notified.get(q)]
        if not ready:
            return []
        if any(self.is_fair(q) for q in ready):
            await self._refresh_caps()
        ids: list[UUID] = []
        taken: list[str] = []
        for queue in ready:
            if not self._without_limits(queue):
                self._drained.discard(queue)  # limits are counted by the full claim only
                continue
            ids += self._notified.pop(queue)
            taken.append(queue)
        if not ids:
            return []
        self.claims_by_id += 1
        async with self._claims.connection() as conn:
            jobs = await self._jobs.claim_jobs_by_id(
                worker_id=self._worker_id,
                ids=ids,
                queues=taken,
                limit=limit,
                lease_seconds=self._settings.lease_seconds,
                conn=conn,
            )
        if len(jobs) >= limit:
            self._drained.difference_update(taken)  # more came than there was room for
        return jobs

    @property
    def offering(self) -> bool:
        """Whether this worker has offered slots to the hand-off: jobs may be handed to it."""
        return self._ever_offered

    def handed_off(self, queue: str) -> None:
        """An enqueue took one of the slots offered for ``queue``."""
        if self._offered.get(queue, 0) > 0:
            self._offered[queue] -= 1

    async def offer(self, room: int) -> None:
        """Offer free slots to the hand-off at enqueue (ADR 0012): ``room`` for each drained
        queue the claim by id could take (no limits), nothing for the others. Written only
        when an offer has to shrink, or has fallen to half of the room or less: not at every
        job."""
        changes: dict[str, int] = {}
        for queue in set(self._offered) | self._drained:
            want = room if queue in self._drained and self._without_limits(queue) else 0
            offered = self._offered.get(queue, 0)
            if offered > want or (want > 0 and offered <= want // 2):
                changes[queue] = want
        if not changes:
            return
        await self._jobs.offer_slots(self._worker_id, changes, self._settings.lease_seconds)
        self._ever_offered = self._ever_offered or any(changes.values())
        for queue, slots in changes.items():
            if slots:
                self._offered[queue] = slots
            else:
                self._offered.pop(queue, None)

    def _without_limits(self, queue: str) -> bool:
        """The claim by id's test: a queue without limits, and no tenant caps for a fair one."""
        if queue in self._limited_queues:
            return False
        return not (self.is_fair(queue) and self._tenant_caps())

    def _tenant_caps(self) -> bool:
        return self._has_tenant_caps or self._settings.tenant_max_running is not None

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
            lock_tenants=self._tenant_caps(),
        )

    async def _refresh_caps(self) -> None:
        now = time.monotonic()
        if now - self._caps_checked_at > _CAPS_CHECK_SECONDS:
            self._has_tenant_caps = await self._claims.has_tenant_caps()
            self._caps_checked_at = now
