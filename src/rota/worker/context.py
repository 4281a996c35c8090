"""JobContext: what a handler knows about its job and how it talks back."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any
from uuid import UUID

from rota.core.job import Job
from rota.errors import LeaseLost

ProgressWriter = Callable[[int, str | None], Awaitable[bool]]

# Guards the creation of a context's threading.Event, made only when a handler waits on it:
# most runs never do, and an Event per run is a measurable share of a short job's cost.
_EVENT_LOCK = threading.Lock()


class JobCancelled(Exception):
    """Raised by ``ctx.raise_if_cancelled()``; the run ends ``cancelled``."""


class JobContext:
    """The envelope of the running job, a logger bound to it, progress and cancellation.

    Attributes:
        job_id, type, queue, tenant_id, actor_id, trace_id, traceparent, request_id,
        correlation_id, idempotency_key: the job's envelope.
        attempt: this run's number (1 on the first run).
        max_attempts: runs allowed before the job is poisoned.
        run_id: unique per run; use it to make external effects idempotent per attempt.
        deadline: ``time.monotonic()`` value at which the run times out.
        logger: a logger whose lines carry the job's fields.
    """

    def __init__(
        self,
        job: Job,
        *,
        timeout_seconds: float,
        write_progress: ProgressWriter,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.job_id: UUID = job.id
        self.type = job.type
        self.queue = job.queue
        self.tenant_id = job.tenant_id
        self.actor_id = job.actor_id
        self.trace_id = job.trace_id
        self.traceparent = job.traceparent
        self.request_id = job.request_id
        self.correlation_id = job.correlation_id
        self.idempotency_key = job.idempotency_key
        self.attempt = job.attempt
        self.max_attempts = job.max_attempts
        self.run_id: UUID | None = job.run_id
        self.deadline = time.monotonic() + timeout_seconds
        self._write_progress = write_progress
        self._loop = loop
        self._cancelled = False
        self._lease_lost = False
        self._cancel_event: threading.Event | None = None

    @property
    def logger(self) -> logging.Logger:
        """A logger named ``rota.job.<type>``; lines written inside the run carry the job's
        fields."""
        return logging.getLogger(f"rota.job.{self.type}")

    @property
    def cancelled(self) -> bool:
        """True once an operator asked this job to stop, its lease was lost, or the worker
        is shutting down past its grace period."""
        return self._cancelled

    @property
    def lease_lost(self) -> bool:
        return self._lease_lost

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def raise_if_cancelled(self) -> None:
        """Stop here if cancellation was requested; the run ends ``cancelled``."""
        if self._cancelled:
            raise JobCancelled("cancelled")

    async def progress(self, percent: int, message: str | None = None) -> None:
        """Persist progress (0-100) and a short message; watchers see it live.

        Raises:
            LeaseLost: this run no longer owns the job; stop working.
        """
        percent = max(0, min(100, int(percent)))
        if message is not None:
            message = message.replace("\x00", "")[:500]
        if not await self._write_progress(percent, message):
            self.mark_lease_lost()
            raise LeaseLost(f"job {self.job_id} attempt {self.attempt} lost its lease")

    def progress_sync(self, percent: int, message: str | None = None) -> None:
        """``progress()`` for synchronous handlers running in a worker thread."""
        future = asyncio.run_coroutine_threadsafe(self.progress(percent, message), self._loop)
        future.result(timeout=30)

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block a synchronous handler until cancellation or ``timeout``; True if cancelled."""
        with _EVENT_LOCK:
            if self._cancel_event is None:
                self._cancel_event = threading.Event()
                if self._cancelled:
                    self._cancel_event.set()
            event = self._cancel_event
        return event.wait(timeout)

    def request_cancel(self) -> None:
        with _EVENT_LOCK:
            self._cancelled = True
            event = self._cancel_event
        if event is not None:
            event.set()

    def mark_lease_lost(self) -> None:
        self._lease_lost = True
        self.request_cancel()

    def lazy_log_fields(self) -> Mapping[str, Any]:
        """``log_fields()``, computed only if a log line is written."""
        return _LazyFields(self)

    def log_fields(self) -> dict[str, Any]:
        return {
            "job_id": str(self.job_id),
            "type": self.type,
            "queue": self.queue,
            "tenant_id": self.tenant_id,
            "actor_id": self.actor_id,
            "attempt": self.attempt,
            "run_id": str(self.run_id) if self.run_id else None,
            "trace_id": self.trace_id,
            "request_id": self.request_id,
        }


class _LazyFields(Mapping[str, Any]):
    __slots__ = ("_ctx", "_fields")

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._fields: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._fields is None:
            self._fields = self._ctx.log_fields()
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())
