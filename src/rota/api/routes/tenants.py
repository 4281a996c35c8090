"""``/v1/tenants``: per-tenant queue depth, running jobs and oldest wait (operators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from rota.api.auth import principal, rota_app
from rota.api.problems import ApiError
from rota.api.routes.jobs import problems_for
from rota.api.schemas import TenantStats, TenantStatsList
from rota.core.auth import Principal, Scope

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.get(
    "",
    response_model=TenantStatsList,
    responses=problems_for(401, 403, 422, 503),
    summary="Tenants with queued or running jobs, busiest first (operator tokens)",
)
async def list_tenants(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TenantStatsList:
    if not (who.is_operator and who.has_scope(Scope.ADMIN)):
        raise ApiError("forbidden", "this needs an operator token with the admin scope")
    rows = await rota_app(request).tenant_stats(limit=limit)
    return TenantStatsList(
        items=[
            TenantStats(
                tenant_id=row["tenant_id"],
                queued=row["queued"],
                running=row["running"],
                oldest_queued_seconds=row["oldest_queued_seconds"],
            )
            for row in rows
        ]
    )
