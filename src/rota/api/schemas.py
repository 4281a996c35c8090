"""Request and response bodies. JSON on the wire is camelCase; this is the only module that
converts between it and rota's snake_case values."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from rota.core.job import Job, JobStatus

IDEMPOTENCY_KEY_MAX = 256


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EnqueueRequest(_Wire):
    type: str = Field(min_length=1, max_length=128, description="job type key")
    payload: dict[str, Any] = Field(default_factory=dict, description="validated by the type")
    run_after: datetime | None = Field(default=None, alias="runAfter")
    priority: int | None = Field(default=None, ge=-32768, le=32767)
    idempotency_key: str | None = Field(
        default=None, alias="idempotencyKey", min_length=1, max_length=IDEMPOTENCY_KEY_MAX
    )
    actor_id: str | None = Field(default=None, alias="actorId", max_length=256)
    correlation_id: str | None = Field(default=None, alias="correlationId", max_length=256)


class EnqueueResponse(_Wire):
    job_id: UUID = Field(alias="jobId")
    status: JobStatus
    status_url: str = Field(alias="statusUrl")
    trace_id: str | None = Field(alias="traceId")


class ErrorDocument(_Wire):
    code: str
    message: str
    traceback: str | None = None


class JobDocument(_Wire):
    job_id: UUID = Field(alias="jobId")
    type: str
    queue: str
    tenant_id: str | None = Field(alias="tenantId")
    status: JobStatus
    progress: int | None
    progress_message: str | None = Field(alias="progressMessage")
    attempt: int
    max_attempts: int = Field(alias="maxAttempts")
    priority: int
    result: Any = None
    error: ErrorDocument | None = None
    actor_id: str | None = Field(alias="actorId")
    trace_id: str | None = Field(alias="traceId")
    request_id: str | None = Field(alias="requestId")
    correlation_id: str | None = Field(alias="correlationId")
    idempotency_key: str | None = Field(alias="idempotencyKey")
    run_after: datetime = Field(alias="runAfter")
    created_at: datetime = Field(alias="createdAt")
    started_at: datetime | None = Field(alias="startedAt")
    finished_at: datetime | None = Field(alias="finishedAt")
    cancel_requested: bool = Field(alias="cancelRequested")

    @classmethod
    def of(cls, job: Job, *, with_traceback: bool) -> JobDocument:
        error = None
        if job.error:
            error = ErrorDocument(
                code=str(job.error.get("code", "error")),
                message=str(job.error.get("message", "")),
                traceback=job.error.get("traceback") if with_traceback else None,
            )
        return cls(
            job_id=job.id,
            type=job.type,
            queue=job.queue,
            tenant_id=job.tenant_id,
            status=job.status,
            progress=job.progress,
            progress_message=job.progress_message,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            priority=job.priority,
            result=job.result,
            error=error,
            actor_id=job.actor_id,
            trace_id=job.trace_id,
            request_id=job.request_id,
            correlation_id=job.correlation_id,
            idempotency_key=job.idempotency_key,
            run_after=job.run_after,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            cancel_requested=job.cancel_requested,
        )


class JobPage(_Wire):
    items: list[JobDocument]
    next_cursor: str | None = Field(alias="nextCursor")


class ActionResponse(_Wire):
    job_id: UUID = Field(alias="jobId")
    status: JobStatus


class JobEventDocument(_Wire):
    id: int
    kind: str
    from_status: str | None = Field(alias="fromStatus")
    to_status: str | None = Field(alias="toStatus")
    attempt: int
    error_code: str | None = Field(alias="errorCode")
    message: str | None
    progress: int | None
    at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> JobEventDocument:
        return cls(
            id=row["id"],
            kind=row["kind"],
            from_status=row["from_status"],
            to_status=row["to_status"],
            attempt=row["attempt"],
            error_code=row["error_code"],
            message=row["message"],
            progress=row["progress"],
            at=row["at"],
        )


class JobEventList(_Wire):
    items: list[JobEventDocument]


class FieldError(_Wire):
    field: str
    message: str


class Problem(_Wire):
    """RFC 9457 problem document with rota's stable ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class Health(_Wire):
    status: str
    detail: str | None = None


class ScheduleFields(_Wire):
    kind: Literal["daily", "weekly", "monthly", "cron"]
    time: str | None = Field(default=None, max_length=5, description="HH:MM, 24-hour")
    weekdays: list[int] = Field(default_factory=list, max_length=7, description="1=Mon..7=Sun")
    day_of_month: int | None = Field(default=None, alias="dayOfMonth", ge=1, le=31)
    cron: str | None = Field(default=None, max_length=200)
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone")


class ScheduleCreate(ScheduleFields):
    type: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any] = Field(default_factory=dict)


class ScheduleUpdate(_Wire):
    paused: bool | None = None
    payload: dict[str, Any] | None = None
    recurrence: ScheduleFields | None = None


class ScheduleDocument(_Wire):
    schedule_id: UUID = Field(alias="scheduleId")
    tenant_id: str = Field(alias="tenantId")
    type: str
    payload: dict[str, Any]
    kind: str
    time: str | None
    weekdays: list[int]
    day_of_month: int | None = Field(alias="dayOfMonth")
    cron: str | None
    timezone: str
    paused: bool
    next_run_at: datetime = Field(alias="nextRunAt")
    last_run_at: datetime | None = Field(alias="lastRunAt")
    last_job_id: UUID | None = Field(alias="lastJobId")
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")

    @classmethod
    def of(cls, row: dict[str, Any]) -> ScheduleDocument:
        return cls(
            schedule_id=row["id"],
            tenant_id=row["tenant_id"],
            type=row["type"],
            payload=row["payload"],
            kind=row["kind"],
            time=row["time_of_day"],
            weekdays=list(row["weekdays"] or []),
            day_of_month=row["day_of_month"],
            cron=row["cron"],
            timezone=row["timezone"],
            paused=row["is_paused"],
            next_run_at=row["next_run_at"],
            last_run_at=row["last_run_at"],
            last_job_id=row["last_job_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class ScheduleList(_Wire):
    items: list[ScheduleDocument]


class TenantStats(_Wire):
    tenant_id: str = Field(alias="tenantId", description="'' for system jobs")
    queued: int
    running: int
    oldest_queued_seconds: float = Field(alias="oldestQueuedSeconds")


class TenantStatsList(_Wire):
    items: list[TenantStats]
