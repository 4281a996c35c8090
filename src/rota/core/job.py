"""Job, JobStatus and Outcome: the values the rest of rota passes around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType
from uuid import UUID

JobId = NewType("JobId", UUID)
RunId = NewType("RunId", UUID)
TenantId = NewType("TenantId", str)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    POISONED = "poisoned"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.POISONED, JobStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class JobError:
    """The last error of a job: a stable code, a message, and a traceback for operators."""

    code: str
    message: str
    traceback: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.traceback:
            data["traceback"] = self.traceback
        return data


@dataclass(frozen=True, slots=True)
class Job:
    """A job row as rota reads it back."""

    id: UUID
    type: str
    queue: str
    tenant_id: str | None
    status: JobStatus
    payload: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    run_after: datetime
    created_at: datetime
    actor_id: str | None = None
    trace_id: str | None = None
    traceparent: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None
    locked_by: UUID | None = None
    locked_until: datetime | None = None
    progress: int | None = None
    progress_message: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    run_id: UUID | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class NewJob:
    """A validated job ready to insert: the payload is already capped JSON text. Not frozen:
    a frozen dataclass's ``__init__`` costs several times more, and batches make thousands."""

    id: UUID
    type: str
    queue: str
    tenant_id: str | None
    payload_json: str
    priority: int
    max_attempts: int
    run_after: datetime | None = None
    delay_seconds: float | None = None  # run_after = database now() + delay when no run_after
    actor_id: str | None = None
    trace_id: str | None = None
    traceparent: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    """What enqueue returns. ``created`` is false when an idempotency key matched an existing
    job, whose id is returned instead of a new one."""

    id: UUID
    type: str
    tenant_id: str | None
    trace_id: str | None
    created: bool


# Outcomes: how one run of a handler ended. The executor produces exactly one per run.


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: Any = None


@dataclass(frozen=True, slots=True)
class Errored:
    """A retryable error (any exception that is not ``rota.Fatal``), including timeouts."""

    error: JobError


@dataclass(frozen=True, slots=True)
class FailedFatally:
    """A non-retryable error: ``rota.Fatal``, an invalid payload, an unknown type."""

    error: JobError


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str = "cancel_requested"


Outcome = Succeeded | Errored | FailedFatally | Cancelled
