"""``create_api(app)``: the FastAPI application serving ``/v1`` for a ``rota.App``."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rota.api import problems
from rota.api.events import EventHub
from rota.api.limits import BodyLimit
from rota.api.routes import health, jobs, schedules, tenants
from rota.app import App
from rota.core.tracing import new_trace_id, trace_id_of
from rota.errors import RotaError

# The payload cap plus room for the envelope fields around it.
ENVELOPE_ALLOWANCE_BYTES = 8 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def create_api(app: App) -> FastAPI:
    """The HTTP API for ``app``; serve it with any ASGI server (``rota api`` uses uvicorn)."""
    hub = EventHub(app.database(), app.settings.schema_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.stop()
        await app.close()

    api = FastAPI(
        title="rota",
        version="1",
        summary="Durable, tenant-aware background jobs on PostgreSQL",
        lifespan=lifespan,
    )
    api.state.rota = app
    api.state.events = hub
    api.include_router(jobs.router)
    api.include_router(schedules.router)
    api.include_router(tenants.router)
    api.include_router(health.router)
    api.add_exception_handler(problems.ApiError, problems.handle_api_error)
    api.add_exception_handler(RotaError, problems.handle_rota_error)
    api.add_exception_handler(RequestValidationError, problems.handle_validation_error)
    api.add_exception_handler(StarletteHTTPException, problems.handle_http_error)
    api.add_exception_handler(Exception, problems.handle_unexpected)
    # Outermost last: correlation ids are added to every answer, the body cap's 413 too.
    api.add_middleware(
        BodyLimit, max_bytes=app.settings.payload_max_bytes + ENVELOPE_ALLOWANCE_BYTES
    )
    api.middleware("http")(_correlate)
    return api


async def _correlate(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Accept ``X-Request-Id`` and ``traceparent`` (or make them), store them on the request
    for the job's envelope, and echo them back."""
    if _has_nul(request):
        return problems.problem(
            "invalid_request",
            "the request line holds a NUL character",
            instance=request.url.path.replace("\x00", ""),
        )
    request_id = request.headers.get("x-request-id", "")
    if not _REQUEST_ID.match(request_id):
        request_id = uuid.uuid4().hex
    traceparent = request.headers.get("traceparent")
    trace_id = trace_id_of(traceparent)
    if trace_id is None:
        trace_id = new_trace_id()
        traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    request.state.request_id = request_id
    request.state.trace_id = trace_id
    request.state.traceparent = traceparent
    response = await call_next(request)
    response.headers["X-Request-Id"] = request_id
    response.headers["traceparent"] = traceparent or ""
    return response


def _has_nul(request: Request) -> bool:
    """PostgreSQL text cannot hold NUL: refuse it at the edge as bad input."""
    return (
        "\x00" in request.url.path
        or "%00" in request.url.query.lower()
        or any("\x00" in value for value in request.query_params.values())
    )
