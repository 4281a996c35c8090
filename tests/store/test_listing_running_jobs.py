"""A tenant's listing and counts show its running jobs with the rest. The tenant's index
leaves running jobs out (a claim adds no entry to it, ADR 0013); the listing reads them from
the running jobs' index and merges them in, newest first, across keyset pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg

import rota
from rota.core.job import Job, JobStatus
from rota.store.claims import FairClaim
from rota.store.queries import Queries
from tests.store.test_running_set import (
    explained,
    keep_statistics,
    noop_app,
    noop_jobs,
    rows_read_from_jobs,
)

HISTORY = 4000  # finished jobs of the tenant: reading them all would show in the plan
SYSTEM = "r.system"  # a system job: it has no tenant


def app_with_a_system_job(make_app: Callable[..., rota.App]) -> rota.App:
    app = noop_app(make_app)

    @app.job(SYSTEM, system=True)
    async def system(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def claim_all(app: rota.App) -> list[Job]:
    """Every queued job, claimed as a worker claims them (fair claims until none is left)."""
    claimed: list[Job] = []
    cursor = ""
    while True:
        jobs, cursor, _ = await app.claims_store().claim_fair(
            FairClaim(
                queue="default", cursor=cursor, limit=100, worker_id=uuid.uuid4(), lease_seconds=60
            )
        )
        if not jobs:
            return claimed
        claimed += jobs


async def mixed_states(app: rota.App, db: psycopg.AsyncConnection[Any]) -> dict[str, list[Any]]:
    """acme's jobs, oldest first: two succeeded, three running, two queued; beside them a
    running job of zeta and a running system job (no tenant)."""
    finished = await app.enqueue_many(noop_jobs("acme", 2))
    await db.execute(
        "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = ANY(%s)",
        ([job.id for job in finished],),
    )
    running = await app.enqueue_many(noop_jobs("acme", 3))
    others = await app.enqueue_many([*noop_jobs("zeta", 1), rota.JobRequest(SYSTEM, {})])
    assert len(await claim_all(app)) == 5
    queued = await app.enqueue_many(noop_jobs("acme", 2))
    return {
        "succeeded": [job.id for job in finished],
        "running": [job.id for job in running],
        "queued": [job.id for job in queued],
        "others": [job.id for job in others],
    }


async def test_a_tenants_pages_list_its_running_jobs_among_the_rest_newest_first(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any]
) -> None:
    app = app_with_a_system_job(make_app)
    ids = await mixed_states(app, db)
    oldest_first = ids["succeeded"] + ids["running"] + ids["queued"]
    pages: list[list[Job]] = []
    before = None
    while True:
        page = await app.list_jobs(tenant_id="acme", limit=3, before=before)
        if not page:
            break
        pages.append(page)
        before = (page[-1].created_at, page[-1].id)
    assert [[job.id for job in page] for page in pages] == [
        oldest_first[::-1][0:3],
        oldest_first[::-1][3:6],
        oldest_first[::-1][6:7],
    ]
    statuses = [job.status for page in pages for job in page]
    assert statuses.count(JobStatus.RUNNING) == 3
    await app.close()


async def test_a_status_filter_lists_only_that_status_for_the_tenant(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any]
) -> None:
    app = app_with_a_system_job(make_app)
    ids = await mixed_states(app, db)
    for status in ("running", "queued", "succeeded"):
        listed = await app.list_jobs(tenant_id="acme", status=status)
        assert [job.id for job in listed] == ids[status][::-1]
        assert {job.status.value for job in listed} == {status}
    assert await app.list_jobs(tenant_id="acme", status="failed") == []
    await app.close()


async def test_counts_include_running_jobs_for_a_tenant_and_for_all(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any]
) -> None:
    app = app_with_a_system_job(make_app)
    await mixed_states(app, db)
    acme = {row["status"]: row["jobs"] for row in await app.count_jobs(tenant_id="acme")}
    assert acme == {"queued": 2, "running": 3, "succeeded": 2}
    every = {row["status"]: row["jobs"] for row in await app.count_jobs()}
    assert every == {"queued": 2, "running": 5, "succeeded": 2}
    await app.close()


async def test_an_operators_listing_shows_every_tenants_running_jobs(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any]
) -> None:
    app = app_with_a_system_job(make_app)
    ids = await mixed_states(app, db)
    running = await app.list_jobs(status="running")
    assert {job.id for job in running} == set(ids["running"] + ids["others"])
    everything = await app.list_jobs(limit=200)
    assert len(everything) == 9
    assert [job.created_at for job in everything] == sorted(
        (job.created_at for job in everything), reverse=True
    )
    [zeta] = await app.list_jobs(tenant_id="zeta")
    assert zeta.status is JobStatus.RUNNING
    await app.close()


async def test_a_tenants_running_jobs_are_read_without_its_history(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any], schema: str
) -> None:
    app = noop_app(make_app)
    history = await app.enqueue_many(noop_jobs("acme", HISTORY))
    await db.execute(
        "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id = ANY(%s)",
        ([job.id for job in history],),
    )
    await app.enqueue_many(noop_jobs("acme", 3))
    assert len(await claim_all(app)) == 3
    await keep_statistics(db)
    params: dict[str, Any] = {
        "all_tenants": False,
        "tenant_id": "acme",
        **dict.fromkeys(["status", "type", "queue", "created_after", "created_before"]),
        **dict.fromkeys(["before_created_at", "before_id"]),
        "limit": 10,
    }
    queries = Queries(schema)
    running = await explained(db, "custom", queries.list_jobs, {**params, "status": "running"})
    assert rows_read_from_jobs(running) == 3
    page = await explained(db, "custom", queries.list_jobs, params)
    assert rows_read_from_jobs(page) <= 10 + 3
    await app.close()
