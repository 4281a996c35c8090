"""Per-tenant depth, running count and oldest wait: Python, CLI and API (operators only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

import rota
from rota.api.app import create_api

Conn = psycopg.AsyncConnection[Any]
ROOT = Path(__file__).resolve().parents[2]


async def seed(make_app: Callable[..., rota.App], db: Conn) -> rota.App:
    app = make_app()

    @app.job("v.work")
    async def work(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    await app.enqueue_many([rota.JobRequest("v.work", {}, tenant_id="acme") for _ in range(5)])
    await app.enqueue_many([rota.JobRequest("v.work", {}, tenant_id="zeta") for _ in range(2)])
    await db.execute(
        "UPDATE jobs SET run_after = now() - interval '90 seconds' WHERE tenant_id = 'zeta'"
    )
    store = app.jobs_store()
    await store.claim_jobs(
        worker_id=uuid.uuid4(), queues=["default"], excluded_types=[], limit=1, lease_seconds=60
    )  # one zeta job (the oldest) runs
    return app


async def test_tenant_stats(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = await seed(make_app, db)
    stats = {row["tenant_id"]: row for row in await app.tenant_stats()}
    assert (stats["acme"]["queued"], stats["acme"]["running"]) == (5, 0)
    assert (stats["zeta"]["queued"], stats["zeta"]["running"]) == (1, 1)
    assert stats["zeta"]["oldest_queued_seconds"] >= 89
    assert stats["acme"]["oldest_queued_seconds"] < 60
    await app.close()


async def test_tenants_cli(
    make_app: Callable[..., rota.App], db: Conn, postgres_url: str, schema: str
) -> None:
    app = await seed(make_app, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(ROTA_DATABASE_URL=postgres_url, ROTA_SCHEMA=schema)

    def rota_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rota", "tenants", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert rota_cli("set", "acme", "--weight", "3", "--max-running", "4").returncode == 0
    listed = json.loads(rota_cli("--json").stdout)
    acme = next(row for row in listed if row["tenant_id"] == "acme")
    assert (acme["queued"], acme["weight"], acme["max_running"]) == (5, 3, 4)
    bad = rota_cli("set", "acme", "--weight", "0")
    assert bad.returncode == 2
    await app.close()


async def test_tenants_api_is_for_operators(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = await seed(make_app, db)
    operator, _ = await app.create_token(tenant_id="*", scopes=["admin"])
    tenant, _ = await app.create_token(tenant_id="acme", scopes=["jobs:read"])
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://rota.test") as client:
        ok = await client.get("/v1/tenants", headers={"Authorization": f"Bearer {operator}"})
        assert ok.status_code == 200
        items = {item["tenantId"]: item for item in ok.json()["items"]}
        assert items["zeta"]["running"] == 1
        denied = await client.get("/v1/tenants", headers={"Authorization": f"Bearer {tenant}"})
        assert denied.status_code == 403
        assert denied.json()["code"] == "forbidden"
    await app.close()
