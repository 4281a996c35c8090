"""Turning an enqueue request into a validated row: type, tenant, payload, envelope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from rota.core.ids import new_job_id
from rota.core.job import NewJob
from rota.core.registry import Registry, check_envelope_text, check_tenant, encode_payload
from rota.core.tracing import new_trace_id, trace_id_of
from rota.errors import InvalidPayload


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job to enqueue (``App.enqueue_many`` takes a list of these)."""

    type: str
    payload: BaseModel | dict[str, Any] | None = None
    tenant_id: str | None = None
    actor_id: str | None = None
    idempotency_key: str | None = None
    trace_id: str | None = None
    traceparent: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    priority: int | None = None
    run_after: datetime | timedelta | None = None


def build_job(registry: Registry, request: JobRequest, payload_max_bytes: int) -> NewJob:
    """Validate everything about ``request`` before anything is written.

    Raises:
        UnknownJobType, TenantRequired, InvalidPayload, PayloadTooLarge.
    """
    job_type = registry.get(request.type)
    tenant_id = check_tenant(job_type, request.tenant_id)
    payload_json = encode_payload(job_type, request.payload, payload_max_bytes)
    traceparent = check_envelope_text("traceparent", request.traceparent)
    trace_id = check_envelope_text("trace_id", request.trace_id)
    trace_id = trace_id or trace_id_of(traceparent) or new_trace_id()
    priority = job_type.priority if request.priority is None else request.priority
    if not -32768 <= priority <= 32767:
        raise InvalidPayload("priority must be within -32768..32767")
    run_after, delay = None, None
    if isinstance(request.run_after, timedelta):
        delay = request.run_after.total_seconds()
    elif isinstance(request.run_after, datetime):
        if request.run_after.tzinfo is None:
            raise InvalidPayload("run_after must be timezone-aware")
        run_after = request.run_after.astimezone(UTC)
    return NewJob(
        id=new_job_id(),
        type=job_type.key,
        queue=job_type.queue,
        tenant_id=tenant_id,
        payload_json=payload_json,
        priority=priority,
        max_attempts=job_type.max_attempts,
        run_after=run_after,
        delay_seconds=delay,
        actor_id=check_envelope_text("actor_id", request.actor_id),
        trace_id=trace_id,
        traceparent=traceparent,
        request_id=check_envelope_text("request_id", request.request_id),
        correlation_id=check_envelope_text("correlation_id", request.correlation_id),
        idempotency_key=check_envelope_text("idempotency_key", request.idempotency_key),
    )
