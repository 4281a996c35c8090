"""/healthz, /readyz, /openapi.json, and problem documents for routes that do not exist."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

import rota
from tests.api.conftest import Api, assert_problem, serve

JOB_OPERATIONS = {
    ("/v1/tenants/{tenant}/jobs", "post"),
    ("/v1/tenants/{tenant}/jobs", "get"),
    ("/v1/tenants/{tenant}/jobs/{job_id}", "get"),
    ("/v1/tenants/{tenant}/jobs/{job_id}/cancel", "post"),
    ("/v1/tenants/{tenant}/jobs/{job_id}/retry", "post"),
    ("/v1/tenants/{tenant}/jobs/{job_id}/events", "get"),
}


async def test_healthz_and_readyz_answer_ok(api: Api) -> None:
    health = await api.client.get("/healthz")
    ready = await api.client.get("/readyz")

    assert (health.status_code, health.json()["status"]) == (200, "ok")
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")


async def test_readyz_is_503_while_the_schema_is_not_migrated(postgres_url: str) -> None:
    app = rota.App(postgres_url, schema_name=f"t_unmigrated_{uuid.uuid4().hex[:8]}")

    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "rota migrate" in ready.json()["detail"]


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = rota.App(f"postgresql://rota@/rota?host={tmp_path}/no-server-here")

    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"


async def test_openapi_document_describes_the_jobs_api(api: Api) -> None:
    response = await api.client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations >= JOB_OPERATIONS | {("/healthz", "get"), ("/readyz", "get")}
    schemes = document["components"]["securitySchemes"]
    assert [scheme["scheme"] for scheme in schemes.values()] == ["bearer"]
    for path, method in JOB_OPERATIONS:
        operation = document["paths"][path][method]
        assert operation["security"], (path, method)
        for status in ("401", "403", "404", "422"):
            content = operation["responses"][status]["content"]
            assert "application/problem+json" in content, (path, method, status)
    enqueue = document["paths"]["/v1/tenants/{tenant}/jobs"]["post"]["responses"]
    assert {"200", "202", "409", "413"} <= set(enqueue)
    events = document["paths"]["/v1/tenants/{tenant}/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]


async def test_openapi_document_declares_415_for_enqueue(api: Api) -> None:
    sent = await api.client.post(
        "/v1/tenants/acme/jobs",
        content=b"type=images.resize",
        headers=api.auth(api.acme, **{"Content-Type": "text/plain"}),
    )
    assert_problem(sent, 415, "unsupported_media_type")

    document = (await api.client.get("/openapi.json")).json()

    assert "415" in document["paths"]["/v1/tenants/{tenant}/jobs"]["post"]["responses"]


async def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    missing = await api.client.get("/v1/nothing-here", headers=api.auth(api.acme))
    wrong_method = await api.client.delete("/v1/tenants/acme/jobs", headers=api.auth(api.acme))

    assert_problem(missing, 404, "not_found")
    assert_problem(wrong_method, 405, "method_not_allowed")
