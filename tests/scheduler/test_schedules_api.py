"""Schedules over HTTP: create, read, pause/resume, delete; validation and tenant rules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import BaseModel

import rota
from rota.api.app import create_api

Conn = psycopg.AsyncConnection[Any]


class Digest(BaseModel):
    channel: str


@pytest.fixture
async def api(
    make_app: Callable[..., rota.App],
) -> AsyncIterator[tuple[rota.App, httpx.AsyncClient]]:
    app = make_app()

    @app.job("digest.send")
    async def send(ctx: rota.JobContext, payload: Digest) -> None:
        return None

    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://rota.test") as client:
        yield app, client
    await app.close()


async def token(app: rota.App, tenant: str, *scopes: str) -> dict[str, str]:
    text, _ = await app.create_token(tenant_id=tenant, scopes=list(scopes))
    return {"Authorization": f"Bearer {text}"}


DAILY = {
    "type": "digest.send",
    "payload": {"channel": "email"},
    "kind": "daily",
    "time": "07:30",
    "timezone": "Europe/Berlin",
}


async def test_schedule_lifecycle(api: tuple[rota.App, httpx.AsyncClient]) -> None:
    app, client = api
    writer = await token(app, "acme", "schedules:write", "jobs:read")
    created = await client.post("/v1/tenants/acme/schedules", json=DAILY, headers=writer)
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["tenantId"] == "acme"
    assert document["paused"] is False
    assert document["nextRunAt"]
    url = f"/v1/tenants/acme/schedules/{document['scheduleId']}"
    assert created.headers["location"] == url

    listed = await client.get("/v1/tenants/acme/schedules", headers=writer)
    assert [s["scheduleId"] for s in listed.json()["items"]] == [document["scheduleId"]]

    paused = await client.patch(url, json={"paused": True}, headers=writer)
    assert paused.json()["paused"] is True
    resumed = await client.patch(url, json={"paused": False}, headers=writer)
    assert resumed.json()["paused"] is False

    changed = await client.patch(
        url,
        json={"recurrence": {"kind": "monthly", "time": "06:00", "dayOfMonth": 31}},
        headers=writer,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["dayOfMonth"]) == ("monthly", 31)

    assert (await client.delete(url, headers=writer)).status_code == 204
    assert (await client.get(url, headers=writer)).status_code == 404


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"cron": "nope", "kind": "cron"}, "invalid_schedule"),
        ({"timezone": "Mars/Olympus"}, "invalid_schedule"),
        ({"time": "24:61"}, "invalid_schedule"),
        ({"type": "no.such"}, "unknown_job_type"),
        ({"payload": {"channel": 5}}, "invalid_payload"),
        ({"kind": "hourly"}, "invalid_request"),
    ],
)
async def test_invalid_schedules_are_422_and_write_nothing(
    api: tuple[rota.App, httpx.AsyncClient], db: Conn, change: dict[str, Any], code: str
) -> None:
    app, client = api
    writer = await token(app, "acme", "schedules:write")
    response = await client.post(
        "/v1/tenants/acme/schedules", json={**DAILY, **change}, headers=writer
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    count = await (await db.execute("SELECT count(*) AS n FROM scheduled_jobs")).fetchone()
    assert count is not None
    assert count["n"] == 0


async def test_other_tenants_schedules_are_404_and_unchanged(
    api: tuple[rota.App, httpx.AsyncClient],
) -> None:
    app, client = api
    owner = await token(app, "acme", "schedules:write", "jobs:read")
    stranger = await token(app, "globex", "schedules:write", "jobs:read")
    created = (await client.post("/v1/tenants/acme/schedules", json=DAILY, headers=owner)).json()
    schedule_id = created["scheduleId"]
    missing = await client.get(
        "/v1/tenants/acme/schedules/00000000-0000-4000-8000-000000000000", headers=owner
    )
    for method, url, body in [
        ("GET", f"/v1/tenants/acme/schedules/{schedule_id}", None),
        ("PATCH", f"/v1/tenants/acme/schedules/{schedule_id}", {"paused": True}),
        ("DELETE", f"/v1/tenants/acme/schedules/{schedule_id}", None),
        ("GET", f"/v1/tenants/globex/schedules/{schedule_id}", None),
        ("GET", "/v1/tenants/acme/schedules", None),
        ("POST", "/v1/tenants/acme/schedules", DAILY),
    ]:
        response = await client.request(method, url, json=body, headers=stranger)
        assert response.status_code == 404, (method, url, response.text)
        assert {k: v for k, v in response.json().items() if k != "instance"} == {
            k: v for k, v in missing.json().items() if k != "instance"
        } | {"detail": response.json()["detail"]}
    after = (await client.get(f"/v1/tenants/acme/schedules/{schedule_id}", headers=owner)).json()
    assert after == created
    assert len(await app.list_schedules()) == 1


async def test_writing_schedules_needs_the_schedules_scope(
    api: tuple[rota.App, httpx.AsyncClient],
) -> None:
    app, client = api
    reader = await token(app, "acme", "jobs:read", "jobs:write")
    response = await client.post("/v1/tenants/acme/schedules", json=DAILY, headers=reader)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
