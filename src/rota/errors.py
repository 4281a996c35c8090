"""The error tree. Every error rota raises on purpose carries a stable ``code``.

::

    RotaError                 .code, .message
      ConfigError             config_invalid
      JobTypeError            job_type_invalid: duplicate or malformed job type, raised at import
      EnqueueError            (base of the enqueue-time errors below)
        UnknownJobType        unknown_job_type
        InvalidPayload        invalid_payload
        PayloadTooLarge       payload_too_large
        TenantRequired        tenant_required
        IdempotencyConflict   idempotency_conflict
      NotFound                not_found
      InvalidState            invalid_state
      LeaseLost               lease_lost: a stale worker's write was fenced out
      DatabaseError           database_unavailable
    Fatal                     raised by handlers: fail now, do not retry

Driver exceptions never leave ``rota.store``; they are translated there.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RotaError(Exception):
    """Base class of rota's errors; ``code`` is stable and safe to show to clients."""

    code: ClassVar[str] = "rota_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(RotaError):
    code = "config_invalid"


class JobTypeError(RotaError):
    code = "job_type_invalid"


class EnqueueError(RotaError):
    code = "enqueue_error"


class UnknownJobType(EnqueueError):
    code = "unknown_job_type"


class InvalidPayload(EnqueueError):
    code = "invalid_payload"


class PayloadTooLarge(EnqueueError):
    code = "payload_too_large"


class TenantRequired(EnqueueError):
    code = "tenant_required"


class IdempotencyConflict(EnqueueError):
    code = "idempotency_conflict"


class NotFound(RotaError):
    code = "not_found"


class InvalidState(RotaError):
    code = "invalid_state"


class LeaseLost(RotaError):
    code = "lease_lost"


class DatabaseError(RotaError):
    code = "database_unavailable"


class Fatal(Exception):
    """Raise from a handler to end the job as ``failed`` without retrying.

    Args:
        message: shown as the job's error message.
        code: stable error code stored with the job (default ``fatal``).

    Example:
        >>> raise rota.Fatal("customer deleted", code="customer_missing")
    """

    def __init__(self, message: str, *, code: str = "fatal") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
