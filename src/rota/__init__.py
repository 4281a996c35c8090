"""rota: durable, tenant-aware background jobs for Python on PostgreSQL."""

from rota.app import App
from rota.core.events import OutcomeEvent
from rota.core.job import EnqueuedJob, Job, JobStatus
from rota.core.requests import JobRequest
from rota.core.retry import Backoff
from rota.errors import (
    ConfigError,
    DatabaseError,
    EnqueueError,
    Fatal,
    IdempotencyConflict,
    InvalidPayload,
    InvalidState,
    JobTypeError,
    LeaseLost,
    NotFound,
    PayloadTooLarge,
    RotaError,
    TenantRequired,
    UnknownJobType,
)
from rota.worker.context import JobCancelled, JobContext

__all__ = [
    "App",
    "Backoff",
    "ConfigError",
    "DatabaseError",
    "EnqueueError",
    "EnqueuedJob",
    "Fatal",
    "IdempotencyConflict",
    "InvalidPayload",
    "InvalidState",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobRequest",
    "JobStatus",
    "JobTypeError",
    "LeaseLost",
    "NotFound",
    "OutcomeEvent",
    "PayloadTooLarge",
    "RotaError",
    "TenantRequired",
    "UnknownJobType",
]
