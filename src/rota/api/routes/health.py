"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema current)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rota.api.auth import rota_app
from rota.api.schemas import Health
from rota.errors import RotaError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health}},
    summary="Readiness: database reachable and migrations current",
)
async def readyz(request: Request) -> JSONResponse:
    try:
        applied, latest = await asyncio.to_thread(rota_app(request).migration_version)
    except RotaError as error:
        return JSONResponse({"status": "unavailable", "detail": error.message}, status_code=503)
    if applied < latest:
        detail = f"schema at version {applied}, code expects {latest}: run rota migrate"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ok"})
