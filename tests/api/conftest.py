"""The HTTP API under test: a real uvicorn server on 127.0.0.1 (port 0) running in the test's
event loop, a rota.App on the test's schema, and tokens for two tenants and an operator."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from pydantic import BaseModel, ConfigDict, Field

import rota
from rota.api.app import create_api
from tests.support.waiting import eventually

Conn = psycopg.AsyncConnection[dict[str, Any]]
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}
SERVER_START_TIMEOUT = 15.0


class Resize(BaseModel):
    """The user job type's payload: every field is checked, extras are refused."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(min_length=1, max_length=200)
    width: int = Field(ge=1, le=10_000)


class Note(BaseModel):
    """A free-text payload, for the payload size cap."""

    text: str = ""


async def resize(ctx: rota.JobContext, payload: Resize) -> dict[str, int]:
    return {"width": payload.width}


async def write_note(ctx: rota.JobContext, payload: Note) -> None:
    return None


async def vacuum(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
    return None


async def broken(ctx: rota.JobContext, payload: Note) -> None:
    raise RuntimeError("the disk is on fire")


def register_job_types(app: rota.App) -> rota.App:
    app.job("images.resize")(resize)
    app.job("notes.write")(write_note)
    app.job("notes.broken", max_attempts=1)(broken)
    app.job("maintenance.vacuum", system=True)(vacuum)
    return app


@contextlib.asynccontextmanager
async def serve(app: rota.App) -> AsyncIterator[str]:
    """Serve ``create_api(app)`` on a free loopback port; yields the base URL."""
    config = uvicorn.Config(
        create_api(app),
        host="127.0.0.1",
        port=0,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn")

    async def started() -> bool:
        if task.done():
            task.result()  # startup failed: raise its error here
            raise AssertionError("uvicorn stopped before it started")
        return server.started

    try:
        await eventually(started, timeout=SERVER_START_TIMEOUT, interval=0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


@dataclass
class Api:
    """A running API and the tokens to call it with."""

    app: rota.App
    client: httpx.AsyncClient
    url: str
    acme: str  # tenant acme: jobs:read + jobs:write
    acme_read: str  # tenant acme: jobs:read only
    acme_write: str  # tenant acme: jobs:write only
    globex: str  # tenant globex: jobs:read + jobs:write
    operator: str  # tenant "*": admin

    @staticmethod
    def auth(token: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **headers}

    async def enqueue(
        self,
        tenant: str = "acme",
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a job (default: a valid images.resize for acme with acme's token)."""
        if body is None:
            body = {"type": "images.resize", "payload": {"image": "cat.png", "width": 64}}
        if token is None:
            token = self.globex if tenant == "globex" else self.acme
        return await self.client.post(
            f"/v1/tenants/{tenant}/jobs", json=body, headers=self.auth(token, **(headers or {}))
        )

    async def enqueued_id(self, tenant: str = "acme", body: dict[str, Any] | None = None) -> str:
        response = await self.enqueue(tenant, body)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["jobId"]
        return job_id


StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api(make_app: Callable[..., rota.App]) -> AsyncIterator[StartApi]:
    """``await start_api(**settings)``: an App with the test job types, served for the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**settings: Any) -> Api:
            app = register_job_types(make_app(**settings))
            tokens = [
                ("acme", ["jobs:read", "jobs:write"]),
                ("acme", ["jobs:read"]),
                ("acme", ["jobs:write"]),
                ("globex", ["jobs:read", "jobs:write"]),
                ("*", ["admin"]),
            ]
            texts = [
                (await app.create_token(tenant_id=tenant, scopes=scopes))[0]
                for tenant, scopes in tokens
            ]
            url = await stack.enter_async_context(serve(app))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            return Api(app, client, url, *texts)

        yield start


@pytest.fixture
async def api(start_api: StartApi) -> Api:
    return await start_api()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 document with rota's stable code, and never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert body["code"] == code
    for name in ("type", "title", "detail"):
        assert isinstance(body[name], str), body
    assert body["type"]
    assert body["title"]
    assert "Traceback" not in response.text
    return body


@dataclass(frozen=True)
class DbState:
    jobs: list[dict[str, Any]]
    events: int


async def db_state(db: Conn) -> DbState:
    """Every job row and the number of job events: what a rejected request must not change."""
    jobs = await (await db.execute("SELECT * FROM jobs ORDER BY id")).fetchall()
    row = await (await db.execute("SELECT count(*) AS n FROM job_events")).fetchone()
    assert row is not None
    return DbState(jobs, row["n"])


async def job_row(db: Conn, job_id: str | uuid.UUID) -> dict[str, Any]:
    row = await (await db.execute("SELECT * FROM jobs WHERE id = %s", (job_id,))).fetchone()
    assert row is not None
    return row
