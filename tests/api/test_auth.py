"""Tokens and tenants: 401 for missing or bad tokens, 403 for a missing scope, and another
tenant's job answered exactly like a missing one on every endpoint, changing nothing."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, Conn, assert_problem, db_state

RESIZE = {"type": "images.resize", "payload": {"image": "cat.png", "width": 64}}
STREAM_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {tenant} and {job_id}
    body: dict[str, Any] | None = None
    stream: bool = False
    writes: bool = False


ENDPOINTS = {
    "read": Endpoint("GET", "/v1/tenants/{tenant}/jobs/{job_id}"),
    "list": Endpoint("GET", "/v1/tenants/{tenant}/jobs"),
    "enqueue": Endpoint("POST", "/v1/tenants/{tenant}/jobs", body=RESIZE, writes=True),
    "cancel": Endpoint("POST", "/v1/tenants/{tenant}/jobs/{job_id}/cancel", writes=True),
    "retry": Endpoint("POST", "/v1/tenants/{tenant}/jobs/{job_id}/retry", writes=True),
    "events": Endpoint("GET", "/v1/tenants/{tenant}/jobs/{job_id}/events"),
    "events-sse": Endpoint("GET", "/v1/tenants/{tenant}/jobs/{job_id}/events", stream=True),
}


async def call(
    api: Api, name: str, tenant: str, job_id: str, headers: dict[str, str]
) -> httpx.Response:
    """One request to endpoint ``name``; a stream is read to its end (bounded in time)."""
    endpoint = ENDPOINTS[name]
    url = endpoint.path.format(tenant=tenant, job_id=job_id)
    if endpoint.stream:
        headers = {**headers, "Accept": "text/event-stream"}
    async with asyncio.timeout(STREAM_TIMEOUT):
        async with api.client.stream(
            endpoint.method, url, headers=headers, json=endpoint.body
        ) as response:
            await response.aread()
    return response


@dataclass(frozen=True)
class AcmeJobs:
    queued: str
    cancelled: str  # retryable, and it has events

    def target(self, name: str) -> str:
        return self.cancelled if name in {"retry", "events", "events-sse"} else self.queued


async def acme_jobs(api: Api) -> AcmeJobs:
    queued = await api.enqueued_id("acme")
    cancelled = await api.enqueued_id("acme")
    response = await api.client.post(
        f"/v1/tenants/acme/jobs/{cancelled}/cancel", headers=api.auth(api.acme)
    )
    assert response.status_code == 202
    return AcmeJobs(queued, cancelled)


# -- 401 ---------------------------------------------------------------------------------------


async def _credentials(api: Api, kind: str) -> dict[str, str]:
    acme_id = api.acme.split("_")[1]
    if kind == "missing":
        return {}
    if kind == "basic":
        return {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}
    if kind == "bearer-without-token":
        return {"Authorization": "Bearer"}
    if kind == "malformed":
        return {"Authorization": "Bearer not-a-rota-token"}
    if kind == "unknown":
        return api.auth(f"rota_{uuid.uuid4().hex[:16]}_{'A' * 43}")
    if kind == "wrong-secret":
        return api.auth(f"rota_{acme_id}_{'B' * 43}")
    if kind == "expired":
        text, _ = await api.app.create_token(
            tenant_id="acme",
            scopes=["jobs:read", "jobs:write"],
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        return api.auth(text)
    assert kind == "revoked"
    text, record = await api.app.create_token(tenant_id="acme", scopes=["jobs:read", "jobs:write"])
    works = await api.client.get("/v1/tenants/acme/jobs", headers=api.auth(text))
    assert works.status_code == 200
    await api.app.revoke_token(record["id"])
    return api.auth(text)


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "basic",
        "bearer-without-token",
        "malformed",
        "unknown",
        "wrong-secret",
        "expired",
        "revoked",
    ],
)
async def test_bad_credentials_are_401_with_a_challenge_on_every_endpoint(
    api: Api, db: Conn, kind: str
) -> None:
    jobs = await acme_jobs(api)
    headers = await _credentials(api, kind)
    before = await db_state(db)

    for name in ENDPOINTS:
        response = await call(api, name, "acme", jobs.target(name), headers)

        assert_problem(response, 401, "unauthorized")
        assert re.match(r'^Bearer realm="rota"', response.headers["www-authenticate"]), name
    assert await db_state(db) == before


# -- 403 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token_name", "endpoints"),
    [
        pytest.param("acme_read", ["enqueue", "cancel", "retry"], id="read-only-token-writes"),
        pytest.param(
            "acme_write", ["read", "list", "events", "events-sse"], id="write-only-token-reads"
        ),
    ],
)
async def test_missing_scope_is_403_and_changes_nothing(
    api: Api, db: Conn, token_name: str, endpoints: list[str]
) -> None:
    jobs = await acme_jobs(api)
    before = await db_state(db)

    for name in endpoints:
        response = await call(
            api, name, "acme", jobs.target(name), api.auth(getattr(api, token_name))
        )

        problem = assert_problem(response, 403, "forbidden")
        assert "jobs:" in problem["detail"]
        assert "www-authenticate" not in response.headers
    assert await db_state(db) == before


async def test_scope_is_not_checked_before_the_tenant(api: Api, db: Conn) -> None:
    """A read-only acme token writing to globex learns nothing about globex: 404, not 403."""
    before = await db_state(db)

    response = await api.enqueue("globex", RESIZE, token=api.acme_read)

    assert_problem(response, 404, "not_found")
    assert await db_state(db) == before


# -- another tenant's jobs ---------------------------------------------------------------------


def _comparable(response: httpx.Response, job_id: str) -> tuple[int, str, str]:
    """Status, media type and body without ``instance``, the requested job id masked."""
    body = {key: value for key, value in response.json().items() if key != "instance"}
    return (
        response.status_code,
        response.headers["content-type"],
        json.dumps(body, sort_keys=True).replace(job_id, "<id>"),
    )


NO_SUCH_TENANT = "initech"


@pytest.mark.parametrize(
    "name", ["read", "list", "enqueue", "cancel", "retry", "events", "events-sse"]
)
async def test_another_tenants_job_is_404_exactly_like_a_missing_one(
    api: Api, db: Conn, name: str
) -> None:
    """Issue 3. At 6591894 every endpoint taking a job id answered 503 here: the sentinel
    tenant for 'not yours' held a NUL byte, which PostgreSQL refuses as text."""
    jobs = await acme_jobs(api)
    target = jobs.target(name)
    missing = str(uuid.uuid4())
    before = await db_state(db)

    foreign = await call(api, name, "acme", target, api.auth(api.globex))

    assert await db_state(db) == before
    assert_problem(foreign, 404, "not_found")
    other_missing = await call(api, name, NO_SUCH_TENANT, missing, api.auth(api.globex))
    assert _comparable(foreign, target) == _comparable(other_missing, missing)
    if name not in {"list", "enqueue"}:  # these name no job: globex's own would succeed
        own_missing = await call(api, name, "globex", missing, api.auth(api.globex))
        assert _comparable(foreign, target) == _comparable(own_missing, missing)
    assert await db_state(db) == before


async def test_listing_never_shows_another_tenants_or_system_jobs(api: Api) -> None:
    acme = await api.enqueued_id("acme")
    globex = await api.enqueued_id("globex")
    system = await api.app.enqueue("maintenance.vacuum", {})

    for tenant, token, own in (("acme", api.acme, acme), ("globex", api.globex, globex)):
        page = await api.client.get(f"/v1/tenants/{tenant}/jobs", headers=api.auth(token))
        assert [item["jobId"] for item in page.json()["items"]] == [own]
    operator = await api.client.get("/v1/tenants/acme/jobs", headers=api.auth(api.operator))
    assert str(system.id) not in operator.text


async def test_an_operator_token_reads_and_acts_for_every_tenant(api: Api, db: Conn) -> None:
    acme = await api.enqueued_id("acme")
    globex = await api.enqueued_id("globex")
    operator = api.auth(api.operator)

    for tenant, job_id in (("acme", acme), ("globex", globex)):
        document = await api.client.get(f"/v1/tenants/{tenant}/jobs/{job_id}", headers=operator)
        assert document.status_code == 200
        assert document.json()["tenantId"] == tenant
        page = await api.client.get(f"/v1/tenants/{tenant}/jobs", headers=operator)
        assert [item["jobId"] for item in page.json()["items"]] == [job_id]
        events = await api.client.get(
            f"/v1/tenants/{tenant}/jobs/{job_id}/events", headers=operator
        )
        assert events.status_code == 200

    cancel = await api.client.post(f"/v1/tenants/globex/jobs/{globex}/cancel", headers=operator)
    assert cancel.json() == {"jobId": globex, "status": "cancelled"}
    posted = await api.enqueue("globex", RESIZE, token=api.operator)
    assert posted.status_code == 202
    assert posted.headers["location"].startswith("/v1/tenants/globex/jobs/")
    row = await (
        await db.execute("SELECT tenant_id FROM jobs WHERE id = %s", (posted.json()["jobId"],))
    ).fetchone()
    assert row == {"tenant_id": "globex"}


async def test_an_operator_finds_a_job_only_under_its_tenants_path(api: Api) -> None:
    """The path names the tenant: /tenants/acme/jobs/{globex job} does not exist."""
    globex = await api.enqueued_id("globex")

    response = await api.client.get(
        f"/v1/tenants/acme/jobs/{globex}", headers=api.auth(api.operator)
    )

    assert_problem(response, 404, "not_found")
