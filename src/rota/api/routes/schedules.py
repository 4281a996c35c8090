"""``/v1/tenants/{tenant}/schedules``: tenants' own recurring jobs."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from rota.api.auth import ReadAccess, ScheduleWriteAccess, rota_app
from rota.api.routes.jobs import TenantPath, problems_for
from rota.api.schemas import (
    ScheduleCreate,
    ScheduleDocument,
    ScheduleFields,
    ScheduleList,
    ScheduleUpdate,
)
from rota.core.schedule import Recurrence
from rota.errors import NotFound

router = APIRouter(prefix="/v1/tenants/{tenant}/schedules", tags=["schedules"])
ScheduleIdPath = Annotated[UUID, Path(description="schedule id")]


def _recurrence(fields: ScheduleFields) -> Recurrence:
    return Recurrence(
        kind=fields.kind,
        timezone=fields.timezone,
        time_of_day=fields.time,
        weekdays=tuple(fields.weekdays),
        day_of_month=fields.day_of_month,
        cron=fields.cron,
    )


@router.get(
    "",
    response_model=ScheduleList,
    responses=problems_for(401, 403, 404, 422, 503),
    summary="The tenant's schedules",
)
async def list_schedules(request: Request, tenant: TenantPath, access: ReadAccess) -> ScheduleList:
    if not access.is_allowed:
        raise NotFound("not found")
    rows = await rota_app(request).list_schedules(tenant_id=access.tenant_id)
    return ScheduleList(items=[ScheduleDocument.of(row) for row in rows])


@router.post(
    "",
    status_code=201,
    response_model=ScheduleDocument,
    responses=problems_for(400, 401, 403, 404, 413, 415, 422, 503),
    summary="Create a schedule (daily, weekly, monthly or cron, in a time zone)",
)
async def create_schedule(
    request: Request,
    response: Response,
    tenant: TenantPath,
    body: ScheduleCreate,
    access: ScheduleWriteAccess,
) -> ScheduleDocument:
    if not access.is_allowed:
        raise NotFound("not found")
    row = await rota_app(request).create_schedule(
        tenant_id=access.tenant_id,
        type=body.type,
        payload=body.payload,
        recurrence=_recurrence(body),
    )
    response.headers["Location"] = f"{request.url.path}/{row['id']}"
    return ScheduleDocument.of(row)


@router.get(
    "/{schedule_id}",
    response_model=ScheduleDocument,
    responses=problems_for(401, 403, 404, 422, 503),
    summary="One schedule",
)
async def get_schedule(
    request: Request, tenant: TenantPath, schedule_id: ScheduleIdPath, access: ReadAccess
) -> ScheduleDocument:
    row = await rota_app(request).get_schedule(schedule_id, tenant_id=access.tenant_id)
    return ScheduleDocument.of(row)


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleDocument,
    responses=problems_for(400, 401, 403, 404, 413, 415, 422, 503),
    summary="Pause, resume or change a schedule",
)
async def update_schedule(
    request: Request,
    tenant: TenantPath,
    schedule_id: ScheduleIdPath,
    body: ScheduleUpdate,
    access: ScheduleWriteAccess,
) -> ScheduleDocument:
    row = await rota_app(request).update_schedule(
        schedule_id,
        tenant_id=access.tenant_id,
        is_paused=body.paused,
        payload=body.payload,
        recurrence=_recurrence(body.recurrence) if body.recurrence else None,
    )
    return ScheduleDocument.of(row)


@router.delete(
    "/{schedule_id}",
    status_code=204,
    responses=problems_for(401, 403, 404, 422, 503),
    summary="Remove a schedule (jobs it enqueued are kept)",
)
async def delete_schedule(
    request: Request,
    tenant: TenantPath,
    schedule_id: ScheduleIdPath,
    access: ScheduleWriteAccess,
) -> Response:
    await rota_app(request).delete_schedule(schedule_id, tenant_id=access.tenant_id)
    return Response(status_code=204)
