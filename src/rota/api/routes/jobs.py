"""``/v1/tenants/{tenant}/jobs``: enqueue, status, listing, cancel, retry, events."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from rota.api.auth import Access, ReadAccess, WriteAccess, rota_app
from rota.api.problems import ApiError
from rota.api.schemas import (
    IDEMPOTENCY_KEY_MAX,
    ActionResponse,
    EnqueueRequest,
    EnqueueResponse,
    JobDocument,
    JobEventDocument,
    JobEventList,
    JobPage,
    Problem,
)
from rota.core.job import TERMINAL_STATUSES, JobStatus
from rota.core.loops import wait_event
from rota.errors import NotFound

router = APIRouter(prefix="/v1/tenants/{tenant}/jobs", tags=["jobs"])

TenantPath = Annotated[str, Path(min_length=1, max_length=128, description="tenant id")]
JobIdPath = Annotated[UUID, Path(description="job id")]
PAGE_MAX = 200
STREAM_KEEPALIVE_SECONDS = 15.0


def problems_for(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "content": {"application/problem+json": {}}} for code in codes}


def _status_url(tenant: str, job_id: UUID) -> str:
    return f"/v1/tenants/{quote(tenant, safe='')}/jobs/{job_id}"


def _not_found(job_id: UUID | None = None) -> NotFound:
    return NotFound(f"job {job_id} not found" if job_id else "not found")


@router.post(
    "",
    status_code=202,
    response_model=EnqueueResponse,
    responses={
        200: {"model": EnqueueResponse, "description": "idempotent replay: the existing job"},
        **problems_for(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
    summary="Enqueue a job",
)
async def enqueue_job(
    request: Request,
    response: Response,
    tenant: TenantPath,
    body: EnqueueRequest,
    access: WriteAccess,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=IDEMPOTENCY_KEY_MAX),
    ] = None,
) -> EnqueueResponse:
    if not access.is_allowed:
        raise _not_found()
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise ApiError("invalid_request", "Idempotency-Key header and idempotencyKey differ")
    if body.run_after is not None and body.run_after.tzinfo is None:
        raise ApiError("invalid_request", "runAfter needs a time zone offset")
    app = rota_app(request)
    job = await app.enqueue(
        body.type,
        body.payload,
        tenant_id=access.tenant_id,
        actor_id=body.actor_id,
        idempotency_key=idempotency_key or body.idempotency_key,
        traceparent=request.state.traceparent,
        trace_id=request.state.trace_id,
        request_id=request.state.request_id,
        correlation_id=body.correlation_id or request.state.request_id,
        priority=body.priority,
        run_after=body.run_after,
    )
    url = _status_url(tenant, job.id)
    response.headers["Location"] = url
    status = JobStatus.QUEUED
    if not job.created:
        response.status_code = 200
        status = (await app.get_job(job.id, tenant_id=access.tenant_id)).status
    return EnqueueResponse(job_id=job.id, status=status, status_url=url, trace_id=job.trace_id)


@router.get(
    "/{job_id}",
    response_model=JobDocument,
    responses=problems_for(401, 403, 404, 422, 503),
    summary="A job's status document",
)
async def get_job(
    request: Request,
    tenant: TenantPath,
    job_id: JobIdPath,
    access: ReadAccess,
) -> JobDocument:
    job = await rota_app(request).get_job(job_id, tenant_id=access.tenant_id)
    return JobDocument.of(job, with_traceback=access.principal.is_operator)


@router.get(
    "",
    response_model=JobPage,
    responses=problems_for(400, 401, 403, 404, 422, 503),
    summary="A page of jobs, newest first",
)
async def list_jobs(
    request: Request,
    tenant: TenantPath,
    access: ReadAccess,
    status: JobStatus | None = None,
    type: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    created_after: Annotated[datetime | None, Query(alias="createdAfter")] = None,
    created_before: Annotated[datetime | None, Query(alias="createdBefore")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    if not access.is_allowed:
        raise _not_found()
    for name, value in (("createdAfter", created_after), ("createdBefore", created_before)):
        if value is not None and value.tzinfo is None:
            raise ApiError("invalid_request", f"{name} needs a time zone offset")
    jobs = await rota_app(request).list_jobs(
        tenant_id=access.tenant_id,
        status=status.value if status else None,
        type=type,
        created_after=created_after,
        created_before=created_before,
        before=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    next_cursor = (
        _encode_cursor(jobs[limit - 1].created_at, jobs[limit - 1].id)
        if len(jobs) > limit
        else None
    )
    with_traceback = access.principal.is_operator
    return JobPage(
        items=[JobDocument.of(job, with_traceback=with_traceback) for job in jobs[:limit]],
        next_cursor=next_cursor,
    )


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=ActionResponse,
    responses=problems_for(401, 403, 404, 409, 422, 503),
    summary="Cancel a queued job, or ask a running one to stop",
)
async def cancel_job(
    request: Request,
    tenant: TenantPath,
    job_id: JobIdPath,
    access: WriteAccess,
) -> ActionResponse:
    status = await rota_app(request).cancel(job_id, tenant_id=access.tenant_id)
    return ActionResponse(job_id=job_id, status=status)


@router.post(
    "/{job_id}/retry",
    status_code=202,
    response_model=ActionResponse,
    responses=problems_for(401, 403, 404, 409, 422, 503),
    summary="Queue a failed, poisoned or cancelled job again",
)
async def retry_job(
    request: Request,
    tenant: TenantPath,
    job_id: JobIdPath,
    access: WriteAccess,
) -> ActionResponse:
    status = await rota_app(request).retry(job_id, tenant_id=access.tenant_id)
    return ActionResponse(job_id=job_id, status=status)


@router.get(
    "/{job_id}/events",
    response_model=JobEventList,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "JSON list, or a live stream with Accept: text/event-stream",
        },
        **problems_for(401, 403, 404, 422, 503),
    },
    summary="A job's transitions and progress; live with Accept: text/event-stream",
)
async def job_events(
    request: Request,
    tenant: TenantPath,
    job_id: JobIdPath,
    access: ReadAccess,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> Any:
    app = rota_app(request)
    await app.get_job(job_id, tenant_id=access.tenant_id)  # 404 before anything else
    if "text/event-stream" not in request.headers.get("accept", ""):
        rows = await app.job_events(job_id, tenant_id=access.tenant_id)
        return JobEventList(items=[JobEventDocument.of(row) for row in rows])
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(
        _stream(request, job_id, access, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, job_id: UUID, access: Access, after: int) -> AsyncIterator[str]:
    """Send the job's events as they are written, until its terminal transition."""
    app = rota_app(request)
    hub = request.app.state.events
    terminal = {status.value for status in TERMINAL_STATUSES}
    async with hub.subscribe(job_id) as wake:
        while True:
            wake.clear()
            rows = await app.jobs_store().list_job_events(job_id, access.scope, after_id=after)
            finished = False
            for row in rows:
                after = row["id"]
                document = JobEventDocument.of(row).model_dump(mode="json", by_alias=True)
                yield f"id: {row['id']}\nevent: {row['kind']}\ndata: {json.dumps(document)}\n\n"
                finished = row["kind"] == "transition" and row["to_status"] in terminal
            if finished:
                return
            if not await wait_event(wake, STREAM_KEEPALIVE_SECONDS):
                yield ": keep-alive\n\n"


def _encode_cursor(created_at: datetime, job_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, job_id = raw.partition("|")
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, UUID(job_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor", "the cursor is not one this API returned") from None
