"""The worker: claims due jobs, runs them, records outcomes, and shuts down gracefully.

One event loop per process. Claims wake on LISTEN/NOTIFY and fall back to polling; the
heartbeat renews leases from its own thread; the rescuer and pruner run as loops beside the
claimer. On SIGTERM/SIGINT the worker stops claiming, lets in-flight jobs finish within the
grace period, then hands the rest back to the queue untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, assert_never
from uuid import UUID, uuid4

from rota.config import DEFAULT_PREFETCH_PER_SLOT, Settings
from rota.core.events import OutcomeEvent
from rota.core.job import (
    Cancelled,
    Errored,
    FailedFatally,
    Job,
    JobError,
    JobStatus,
    Outcome,
    Succeeded,
)
from rota.core.loops import stop_tasks, wait_event
from rota.core.registry import JobType, Registry
from rota.core.states import next_state
from rota.errors import DatabaseError, UnknownJobType
from rota.observability.logging import set_job_fields
from rota.store.claims import ClaimStore
from rota.store.db import Database
from rota.store.jobs import Completion, JobStore
from rota.store.listen import Listener
from rota.store.schedules import ScheduleStore
from rota.store.workers import WorkerStore
from rota.worker.claimer import Claimer
from rota.worker.completer import Completer
from rota.worker.context import JobContext
from rota.worker.executor import Deadlines, execute
from rota.worker.heartbeat import Heartbeat
from rota.worker.pruner import Pruner
from rota.worker.rescuer import Rescuer

log = logging.getLogger("rota.worker")

# Jobs are held ahead only as many as the slots get through in about this long at the
# recent handler speed: short jobs get big claim batches, long ones are not hoarded.
_HOLD_SECONDS = 0.05
# At shutdown, after the grace period: how long runs whose handler has ended may still take to
# write their outcome before they are handed back too.
_OUTCOME_WRITE_SECONDS = 5.0

OutcomeSubscriber = Callable[[OutcomeEvent], None]


@dataclass
class _Running:
    job: Job
    ctx: JobContext
    task: asyncio.Task[None] = field(init=False)  # set before the task first runs
    handler_done: bool = False  # the handler ended; its outcome may still be being written


class Worker:
    """Runs jobs of ``queues`` with at most ``concurrency`` at once in this process."""

    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        db: Database,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        subscribers: Sequence[OutcomeSubscriber] = (),
        loops: Sequence[tuple[float, Callable[[], Awaitable[int]]]] = (),
    ) -> None:
        self.id: UUID = uuid4()  # random per process start, never a host name
        self.settings = settings
        self.registry = registry
        self.db = db
        self.queues = list(queues or registry.queues() or ["default"])
        self.concurrency = concurrency or settings.concurrency
        self.store = JobStore(db, settings.schema_name)
        self.workers = WorkerStore(db, settings.schema_name)
        self._subscribers = list(subscribers)
        self._loops = list(loops)  # (interval, run_once) of loops run beside the claimer
        self._running: dict[UUID, _Running] = {}  # started and not yet recorded
        self._busy = 0  # handlers running: what the concurrency limit counts
        # Jobs claimed ahead of free slots (leases renewed like running ones): a slot that
        # frees starts the next at once, and each claim takes a bigger batch. Off when the
        # registry has per-worker limits, which are counted when a job starts.
        self._held: deque[Job] = deque()
        self._held_cancelled: set[UUID] = set()
        local_caps = any(t.concurrency for t in registry) or bool(registry.queue_concurrency)
        prefetch = (
            DEFAULT_PREFETCH_PER_SLOT * self.concurrency
            if settings.prefetch is None
            else settings.prefetch
        )
        self._prefetch = 0 if local_caps else prefetch
        self._run_seconds: float | None = None  # moving average of handler run time
        # How many jobs to hold ahead of free slots (0 until a run was timed), and the room
        # at which to claim again: half a batch. Both follow the run time (``_timed``).
        self._size_batches(0)
        # Outcomes being written do not hold a slot, but at most this many may wait at once.
        self._max_recording = 10 * self.concurrency
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._skip_grace = False
        self._deadlines = Deadlines()  # the runs' timeouts, on one timer
        self._threads = ThreadPoolExecutor(
            max_workers=self.concurrency + 4, thread_name_prefix="rota-handler"
        )
        self._completer = Completer(self.store, self.id)
        self._claims = ClaimStore(db, settings.schema_name)
        self._claimer = Claimer(
            jobs=self.store,
            claims=self._claims,
            registry=registry,
            settings=settings,
            worker_id=self.id,
        )
        self._rescuer = Rescuer(self.store)
        self._pruner = Pruner(
            self.store,
            self.workers,
            ScheduleStore(db, settings.schema_name),
            retention_seconds=settings.retention_seconds,
            batch_size=settings.prune_batch_size,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: Heartbeat | None = None
        self.started = asyncio.Event()
        self.idle = asyncio.Event()  # set while the claim loop waits for a wake-up
        self.handoffs = 0  # jobs an enqueue handed to this worker (ADR 0012), for tests and stats
        self._handoff_tasks: set[asyncio.Task[None]] = set()
        self._handoff_reading: set[UUID] = set()  # handed-off jobs being read
        self._handoffs_checked_at = 0.0

    # -- public ----------------------------------------------------------------------------

    async def run(self, *, install_signals: bool = True) -> None:
        """Run until ``stop()`` (or SIGTERM/SIGINT), then shut down gracefully."""
        await self._start(install_signals=install_signals)
        channels = self.store.channels
        listener = Listener(
            self.db,
            [channels.jobs, channels.control, channels.handoff],
            self._on_notify,
            on_reconnect=self._wake.set,
            check_seconds=max(1.0, min(10.0, self.settings.poll_interval_seconds * 2)),
        )
        loops = [
            asyncio.create_task(listener.run(), name="rota-listen"),
            asyncio.create_task(
                self._every(self.settings.rescue_interval_seconds, self._rescuer.run_once),
                name="rota-rescuer",
            ),
            asyncio.create_task(
                self._every(self.settings.prune_interval_seconds, self._pruner.run_once),
                name="rota-pruner",
            ),
            *(
                asyncio.create_task(self._every(interval, run_once))
                for interval, run_once in self._loops
            ),
        ]
        try:
            await wait_event(listener.connected, 5)
            self.started.set()
            log.info(
                "worker started",
                extra={
                    "worker_id": str(self.id),
                    "queues": ",".join(self.queues),
                    "concurrency": self.concurrency,
                },
            )
            await self._claim_loop()
        finally:
            await stop_tasks(*loops)
            await self._shutdown()

    async def drain(self) -> int:
        """Run every job that is due now, then return how many were run."""
        await self._start(install_signals=False)
        total = 0
        try:
            await self._rescuer.run_once()
            for _, run_once in self._loops:  # e.g. enqueue due schedule ticks first
                await run_once()
            self.started.set()
            while not self._stopping.is_set():
                self._wake.clear()  # before the claim: a job ending during it is not missed
                claimed, _ = await self._claim_and_start()
                total += claimed
                if not claimed and not self._running and not self._held:
                    if self._claimer.wake_in is None:
                        break
                    # Due jobs held back by a rate limit: wait for it, then go on.
                    await asyncio.sleep(max(self._claimer.wake_in, 0.01))
                    continue
                if claimed and (self._room() >= self._refill_at or self._claimer.look_again):
                    continue
                await self._wake.wait()  # room for half a batch, or every job done
        finally:
            await self._shutdown()
        return total

    def stop(self) -> None:
        """Ask for a graceful shutdown; a second call skips the rest of the grace period."""
        if self._stopping.is_set():
            self._skip_grace = True
            log.warning("second stop request: releasing in-flight jobs now")
        self._stopping.set()
        self._wake.set()

    def held_leases(self) -> dict[UUID, int]:
        leases = {job.id: job.attempt for job in list(self._held)}
        leases.update((job_id, r.job.attempt) for job_id, r in list(self._running.items()))
        return leases

    # -- start and stop ----------------------------------------------------------------------

    async def _start(self, *, install_signals: bool) -> None:
        self._loop = asyncio.get_running_loop()
        if install_signals:
            # Before the worker's row exists: a SIGTERM between the two would end the process
            # with the default action and leave the row looking alive.
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self.stop)
        await self.workers.register_worker(self.id, self.queues, self.concurrency)
        self._completer.start()
        loop = self._loop

        def on_lost(job_id: UUID, attempt: int) -> None:
            loop.call_soon_threadsafe(self._on_lease_lost, job_id, attempt)

        def on_cancel_requested(job_id: UUID) -> None:
            loop.call_soon_threadsafe(self._on_cancel_requested, job_id)

        self._heartbeat = Heartbeat(
            db=self.db,
            store=self.store,
            worker_id=self.id,
            lease_seconds=self.settings.lease_seconds,
            interval_seconds=self.settings.heartbeat_interval_seconds,
            held=self.held_leases,
            on_lost=on_lost,
            on_cancel_requested=on_cancel_requested,
        )
        self._heartbeat.start()

    async def _shutdown(self) -> None:
        self._stopping.set()
        await self._release_handed_off()
        await self._release_held()
        if self._running:
            log.info(
                "shutting down: waiting for in-flight jobs", extra={"jobs": len(self._running)}
            )
            await self._wait_in_flight(self.settings.shutdown_grace_seconds)
        if self._running:
            # Hand back the jobs whose handlers still run. A run whose handler has ended is
            # writing its outcome: it gets a little longer, so that a job that finished is not
            # handed back to run again because its write was still queued.
            await self._release_remaining(executing_only=True)
            await self._wait_in_flight(_OUTCOME_WRITE_SECONDS)
        if self._running:
            await self._release_remaining()
        await self._completer.stop()
        await self._claims.close()
        if self._heartbeat is not None:
            await asyncio.to_thread(self._heartbeat.stop)
        try:
            await self.workers.stop_worker(self.id)
        except DatabaseError as error:
            log.warning("could not mark worker stopped", extra={"error": error.message})
        self._deadlines.close()
        self._threads.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped", extra={"worker_id": str(self.id)})

    async def _find_handed_off(self) -> None:
        """Jobs handed to this worker whose NOTIFY never arrived (a cut listen connection
        loses it): found by their holder, at most once a poll interval while slots are
        offered, and started like the others."""
        now = time.monotonic()
        if not self._claimer.offering or now - self._handoffs_checked_at < (
            self.settings.poll_interval_seconds
        ):
            return
        self._handoffs_checked_at = now
        for job_id, _ in await self.store.held_jobs(self.id):
            await self._take_handoff(job_id)  # passes over the jobs this worker knows

    async def _release_handed_off(self) -> None:
        """Take back the slots offered for the hand-off, then hand back the jobs handed to
        this worker that it never read (their NOTIFY was still on its way when the listener
        stopped). Runs after the listener has stopped."""
        await stop_tasks(*self._handoff_tasks)
        try:
            await self.store.withdraw_slots(self.id)
            mine = {job.id for job in self._held} | set(self._running)
            unread = [held for held in await self.store.held_jobs(self.id) if held[0] not in mine]
            if unread:
                await self.store.release_jobs(self.id, unread, "released at shutdown (not started)")
        except DatabaseError as error:
            log.error(
                "could not take back the hand-off; jobs handed off return after their lease",
                extra={"error": error.message},
            )

    async def _wait_in_flight(self, grace_seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while self._running and not self._skip_grace:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            tasks = [r.task for r in self._running.values()]
            await asyncio.wait(tasks, timeout=min(remaining, 0.5))

    async def _release_held(self) -> None:
        """Hand jobs claimed ahead back to the queue untouched (attempt given back)."""
        held = [(job.id, job.attempt) for job in self._held]
        self._held.clear()
        self._held_cancelled.clear()
        if not held:
            return
        try:
            await self.store.release_jobs(self.id, held, "released at shutdown (not started)")
        except DatabaseError as error:
            log.error(
                "could not release jobs claimed ahead; they return after their lease expires",
                extra={"error": error.message},
            )

    async def _release_remaining(self, *, executing_only: bool = False) -> None:
        remaining = [r for r in self._running.values() if not (executing_only and r.handler_done)]
        if not remaining:
            return
        for running in remaining:
            running.ctx.request_cancel()
            self._end_even_unstarted(running)
        await stop_tasks(*(r.task for r in remaining))
        held = [(r.job.id, r.job.attempt) for r in remaining]
        try:
            released = await self.store.release_jobs(self.id, held, "released at shutdown")
        except DatabaseError as error:
            log.error(
                "could not release jobs; they return after their lease expires",
                extra={"error": error.message},
            )
            return
        log.info("released unfinished jobs", extra={"jobs": len(released)})

    # -- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                claimed, full = await self._claim_and_start()
                delay = 0.1
            except Exception as error:
                # The loop's top: never let one bad claim end the worker (a job left claimed
                # by it returns after its lease expires).
                if isinstance(error, DatabaseError):
                    log.warning("claim failed; retrying", extra={"error": error.message})
                else:
                    log.exception("claim failed unexpectedly; retrying")
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if claimed:
                await asyncio.sleep(0)  # the jobs just started begin before the next claim
                if (full or self._claimer.look_again) and self._room() > 0:
                    # A partial claim means nothing more was due (wait for a wake-up), but a
                    # claim stops at one priority: look again for the next.
                    continue
            try:
                await self._find_handed_off()  # the hand-off at enqueue (ADR 0012)
                await self._claimer.offer(self._room())
            except DatabaseError as error:
                log.warning("could not offer free slots", extra={"error": error.message})
            wait = self.settings.poll_interval_seconds
            if self._claimer.wake_in is not None:  # a rate limit allows the next start then
                wait = min(wait, max(self._claimer.wake_in, 0.01))
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        self.idle.set()
        try:
            # Under asyncio.timeout (wait_event), not wait_for: a wake-up resumes this task
            # directly, where wait_for would run the wait as a task of its own.
            await wait_event(self._wake, seconds)
        finally:
            self.idle.clear()

    def _room(self) -> int:
        """How many jobs a claim may take now: free slots plus room to hold jobs ahead."""
        if len(self._running) - self._busy >= self._max_recording:
            return 0
        return self.concurrency - self._busy + self._hold_ahead - len(self._held)

    def _timed(self, seconds: float) -> None:
        """Fold a handler's run time into the moving average, and size the hold-ahead and
        the refill point from it (here, once per run, not at every look at the room)."""
        if self._run_seconds is None:
            self._run_seconds = seconds
        else:
            self._run_seconds += 0.1 * (seconds - self._run_seconds)
        if self._prefetch:
            ahead = self.concurrency * _HOLD_SECONDS / max(self._run_seconds, 1e-4)
            self._size_batches(min(self._prefetch, int(ahead)))

    def _size_batches(self, hold_ahead: int) -> None:
        self._hold_ahead = hold_ahead
        self._refill_at = max(1, (self.concurrency + hold_ahead) // 2)

    async def _claim_and_start(self) -> tuple[int, bool]:
        """Claim for the room there is and start what fits: (jobs claimed, whether the claim
        took as many as it asked for)."""
        free = self._room()
        if free <= 0:
            return 0, False
        type_caps = {t.key: t.concurrency for t in self.registry if t.concurrency}
        queue_caps = self.registry.queue_concurrency
        capped = bool(type_caps or queue_caps)
        busy_types: Counter[str] = Counter()
        busy_queues: Counter[str] = Counter()
        if capped:  # without per-worker limits there is nothing to count
            busy = [r.job for r in self._running.values() if not r.handler_done]
            busy_types.update(job.type for job in busy)
            busy_queues.update(job.queue for job in busy)
        queues = [q for q in self.queues if q not in queue_caps or busy_queues[q] < queue_caps[q]]
        if not queues:
            return 0, False
        jobs = await self._claimer.claim(
            queues,
            free,
            [key for key, cap in type_caps.items() if busy_types[key] >= cap],
        )
        self._crash_point("after_claim")
        over_cap: list[Job] = []
        if not capped:
            self._held.extend(jobs)
        else:
            for job in jobs:
                type_cap = type_caps.get(job.type)
                queue_cap = queue_caps.get(job.queue)
                if (type_cap and busy_types[job.type] >= type_cap) or (
                    queue_cap and busy_queues[job.queue] >= queue_cap
                ):
                    over_cap.append(job)
                    continue
                busy_types[job.type] += 1
                busy_queues[job.queue] += 1
                self._held.append(job)
        self._start_held()
        if over_cap:
            # The batch held more of a capped type or queue than it has room for: hand those
            # back untouched (attempt given back) for a later claim or another worker.
            await self.store.release_jobs(
                self.id, [(j.id, j.attempt) for j in over_cap], "released: over a concurrency limit"
            )
        return len(jobs) - len(over_cap), len(jobs) >= free

    def _start_held(self) -> None:
        """Start held jobs in the free slots (none once shutting down)."""
        while self._held and self._busy < self.concurrency and not self._stopping.is_set():
            job = self._held.popleft()
            self._start_job(job, self.registry.get(job.type) if job.type in self.registry else None)

    def _start_job(self, job: Job, job_type: JobType | None) -> None:
        assert self._loop is not None
        timeout = job_type.timeout.total_seconds() if job_type else 1.0
        ctx = JobContext(
            job,
            timeout_seconds=timeout,
            write_progress=lambda pct, msg: self.store.record_progress(
                worker_id=self.id, job_id=job.id, attempt=job.attempt, progress=pct, message=msg
            ),
            loop=self._loop,
        )
        running = _Running(job, ctx)
        # The loop's own create_task: asyncio.create_task adds two Python calls around it
        # (about 1.3 of the 4.3 us a task costs to create, run and finish).
        running.task = self._loop.create_task(self._run_job(running, job_type), name="rota-job")
        self._running[job.id] = running
        if self._held_cancelled and job.id in self._held_cancelled:
            self._held_cancelled.discard(job.id)
            ctx.request_cancel()
        self._busy += 1

    def _on_handler_done(self, running: _Running) -> None:
        """The handler ended: its slot is free while the outcome is written (the lease is
        still held and renewed until then)."""
        if running.handler_done:
            return
        running.handler_done = True
        self._busy -= 1
        self._start_held()
        # Claim in batches: wake the claimer once there is room for half a batch (or nothing
        # runs), not for every finished job; one claim statement then fills several slots.
        if self._room() >= self._refill_at or not self._busy:
            self._wake.set()

    def _on_job_done(self, running: _Running) -> None:
        self._on_handler_done(running)
        # Forget this run (one lookup in the common case): a newer run of the same job, if one
        # took its place, stays.
        current = self._running.pop(running.job.id, None)
        if current is not running and current is not None:
            self._running[running.job.id] = current
        if not self._running or self._room() >= self._refill_at:
            self._wake.set()

    # -- running one job ---------------------------------------------------------------------

    async def _run_job(self, running: _Running, job_type: JobType | None) -> None:
        # The run's bookkeeping ends here, in the task, not in a done callback (one loop
        # callback fewer per job, about 1 us). A task cancelled before its first step never
        # gets here: whoever cancels a run adds the callback (``_end_even_unstarted``).
        try:
            job, ctx = running.job, running.ctx
            set_job_fields(ctx.lazy_log_fields())  # this task's context ends with the run
            log.info("job started")
            began = time.monotonic()
            try:
                if ctx.cancelled:  # cancel requested while the job waited in this worker
                    outcome: Outcome = Cancelled("cancelled")
                    result_json = None
                elif job_type is None:
                    error = UnknownJobType(f"no handler for job type {job.type!r} in this worker")
                    outcome = FailedFatally(JobError(error.code, error.message))
                    result_json = None
                else:
                    outcome, result_json = await execute(
                        job_type,
                        job.payload,
                        ctx,
                        threads=self._threads,
                        deadlines=self._deadlines,
                        result_max_bytes=self.settings.result_max_bytes,
                        task=running.task,
                    )
            finally:
                self._timed(time.monotonic() - began)
                self._on_handler_done(running)
            written: bool | None = None  # whether a first write got through: the lease held
            if isinstance(outcome, Succeeded) and not self.settings.test_crash_at:
                # The common case, written straight away; an outage falls back to _record's retries.
                with contextlib.suppress(DatabaseError):
                    written = await self._completer.complete(
                        Completion(job.id, job.attempt, result_json)
                    )
                if written and self._quiet():
                    return  # nothing to log or tell: no more work per job
            await self._record(job, job_type, ctx, outcome, result_json, written)
        finally:
            self._on_job_done(running)

    async def _record(
        self,
        job: Job,
        job_type: JobType | None,
        ctx: JobContext,
        outcome: Outcome,
        result_json: str | None,
        written: bool | None = None,
    ) -> None:
        """Write the outcome (unless ``written`` already tells how its write went), then log
        and publish it."""
        status = next_state(outcome, job.attempt, job.max_attempts)
        error = _error_of(outcome)
        delay = 0.0
        if status is JobStatus.QUEUED and job_type is not None:
            delay = job_type.backoff.delay(job.attempt).total_seconds()

        async def write() -> bool:
            if isinstance(outcome, Succeeded):
                self._crash_point("before_complete")
                done = await self._completer.complete(Completion(job.id, job.attempt, result_json))
                self._crash_point("after_complete")
                return done
            return await self.store.finish_job(
                worker_id=self.id,
                job_id=job.id,
                attempt=job.attempt,
                status=status,
                error=error.as_json() if error else None,
                delay_seconds=delay,
            )

        recorded = written if written is not None else await self._retrying(write, ctx)
        if recorded and not error and self._quiet():
            return  # the common case, with nothing to log or tell: no more work per job
        fields: dict[str, Any] = {"status": status.value}
        if error:
            fields.update(error_code=error.code, error=error.message)
        if recorded is None:
            log.error("outcome not recorded; the job returns after its lease expires", extra=fields)
            return
        if not recorded:
            log.warning("stale write rejected: this run lost its lease", extra=fields)
            with contextlib.suppress(DatabaseError):
                await self.store.record_stale_write(
                    job.id, job.attempt, f"{status.value} from a run that lost its lease"
                )
            return
        if status is JobStatus.QUEUED:
            fields["retry_in_seconds"] = round(delay, 3)
        if log.isEnabledFor(logging.INFO):
            log.info(f"job {status.value}", extra=fields)
        if status.is_terminal and self._subscribers:
            self._publish(
                OutcomeEvent(
                    job.id,
                    job.type,
                    job.queue,
                    job.tenant_id,
                    status,
                    job.attempt,
                    error.code if error else None,
                )
            )

    def _quiet(self) -> bool:
        """Whether a recorded success is told to no one: no outcome subscriber, no INFO log."""
        return not self._subscribers and not log.isEnabledFor(logging.INFO)

    async def _retrying(self, write: Callable[[], Awaitable[bool]], ctx: JobContext) -> bool | None:
        """Record an outcome, retrying through database outages while the lease may still be
        ours. None: gave up (lease lost meanwhile)."""
        delay = 0.1
        while True:
            try:
                return await write()
            except DatabaseError as error:
                if ctx.lease_lost:
                    return None
                log.warning("recording outcome failed; retrying", extra={"error": error.message})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _crash_point(self, point: str) -> None:
        """Testing only (ROTA_TEST_CRASH_AT): die here as a crashed process would."""
        if self.settings.test_crash_at == point:
            os._exit(77)

    def _publish(self, event: OutcomeEvent) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("outcome subscriber failed")

    # -- signals from the database -----------------------------------------------------------

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == self.store.channels.jobs:
            # "queue" or "queue id,id,..." (migration 0007): the ids let an idle worker claim
            # exactly those jobs.
            queue, _, ids = payload.partition(" ")
            if queue in self.queues:
                if ids:
                    self._claimer.notified(queue, ids)
                self._wake.set()
        elif channel == self.store.channels.handoff:
            # "worker_id job_id": a job an enqueue claimed for a worker that offered a slot.
            worker_id, _, job_id = payload.partition(" ")
            if worker_id == str(self.id):
                with contextlib.suppress(ValueError):
                    task = asyncio.create_task(self._take_handoff(UUID(job_id)))
                    self._handoff_tasks.add(task)
                    task.add_done_callback(self._handoff_tasks.discard)
        elif channel == self.store.channels.control and payload.startswith("cancel:"):
            with contextlib.suppress(ValueError):
                self._on_cancel_requested(UUID(payload.removeprefix("cancel:")))

    async def _take_handoff(self, job_id: UUID) -> None:
        """Read the job an enqueue handed to this worker and start it like a claimed one.
        If it cannot be read now, it stays leased to this worker: the claim loop finds it by
        its holder at its next poll (``_find_handed_off``), and a stopping worker releases it
        (``_release_handed_off``)."""
        if job_id in self._handoff_reading or job_id in self._running:
            return
        if any(job.id == job_id for job in self._held):
            return
        self._handoff_reading.add(job_id)
        try:
            async with self._claims.connection() as conn:
                job = await self.store.get_handed_off_job(self.id, job_id, conn)
        except DatabaseError as error:
            log.warning("could not read a job handed off", extra={"error": error.message})
            return
        finally:
            self._handoff_reading.discard(job_id)
        if job is None:
            return  # no longer this worker's
        self._claimer.handed_off(job.queue)
        self.handoffs += 1
        self._held.append(job)
        if self._stopping.is_set():
            return  # the shutdown releases what is held
        self._start_held()

    def _on_cancel_requested(self, job_id: UUID) -> None:
        if any(job.id == job_id for job in self._held):
            self._held_cancelled.add(job_id)  # it starts cancelled: the handler is not run
            return
        running = self._running.get(job_id)
        if running is not None and not running.ctx.cancelled:
            log.info("cancel requested", extra=running.ctx.log_fields())
            running.ctx.request_cancel()

    def _on_lease_lost(self, job_id: UUID, attempt: int) -> None:
        for job in list(self._held):
            if job.id == job_id and job.attempt == attempt:
                self._held.remove(job)  # never started; the job is another worker's now
                self._held_cancelled.discard(job_id)
                log.warning("lease lost before the job started", extra={"job_id": str(job_id)})
                return
        running = self._running.get(job_id)
        if running is None or running.job.attempt != attempt:
            return
        if running.handler_done:
            # The outcome is being written: most often it was just committed, and the renewal
            # raced it. The write is fenced, so it records the truth either way.
            return
        log.warning("lease lost: stopping the handler", extra=running.ctx.log_fields())
        running.ctx.mark_lease_lost()
        # Stop awaiting the handler: its outcome would be fenced out anyway. A synchronous
        # handler's thread sees ctx.cancelled; its return value is dropped.
        self._end_even_unstarted(running)
        running.task.cancel()

    def _end_even_unstarted(self, running: _Running) -> None:
        """For a run about to be cancelled: its bookkeeping (``_on_job_done``) runs at the end
        of ``_run_job``, which a task cancelled before its first step never enters, so a done
        callback covers that case (a second call does nothing)."""
        running.task.add_done_callback(lambda _: self._on_job_done(running))

    async def _every(self, seconds: float, action: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                await action()
            except DatabaseError as error:
                log.warning("maintenance pass failed", extra={"error": error.message})
            except Exception:
                log.exception("maintenance pass failed")
            await asyncio.sleep(seconds)


def _error_of(outcome: Outcome) -> JobError | None:
    match outcome:
        case Succeeded():
            return None
        case Errored(error) | FailedFatally(error):
            return error
        case Cancelled(reason):
            return JobError("cancelled", reason)
        case _:
            assert_never(outcome)
