"""Claims past jobs they must not take, whatever the table holds in front of the due ones.

- Delayed jobs (later run_after: scheduled jobs, retries waiting out their backoff) at a
  better priority than the due ones. Ordering due jobs by priority and run_after read every
  delayed job of the better priority before reaching a due one (with 100,000 delayed: 516-549
  pages and 4-6 ms a claim, against 39-68 pages and under 1 ms now); the claims now visit the
  queue's priorities one index probe each.
- Finished jobs kept (retention) ahead of the queued ones in the table. A claim asks whether
  a priority, or a tenant, has a due job; asked as `EXISTS`, the planner may answer it by
  reading `jobs` from its first page, betting that a matching row comes early. It chose that in
  the claim connection's generic plans during every drain, once the statistics had seen many
  queued jobs: the finished jobs at the front of the table were read at every claim (2.4 ms of
  a 4.5 ms claim after 900 finished jobs, and growing with retention). The probes now read the
  oldest queued job in index order, which no table scan can serve.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

import rota
from rota.store.claims import FairClaim
from rota.store.queries import Queries
from tests.store.test_running_set import (
    NOOP,
    explained,
    keep_statistics,
    noop_app,
    noop_jobs,
    pages_read,
)

DELAYED = 40000
DUE = 5
FINISHED = 20000
QUEUED = 5


async def fill(app: rota.App, db: psycopg.AsyncConnection[Any]) -> list[rota.EnqueuedJob]:
    """DELAYED jobs at priority 0 due in an hour or later, then DUE jobs at priority 1."""
    for start in range(0, DELAYED, 10000):
        await app.enqueue_many(
            [
                rota.JobRequest(
                    NOOP,
                    {"n": n},
                    tenant_id="acme",
                    priority=0,
                    run_after=timedelta(hours=1, seconds=n),
                )
                for n in range(start, start + 10000)
            ]
        )
    due = await app.enqueue_many(
        [rota.JobRequest(NOOP, {"n": n}, tenant_id="acme", priority=1) for n in range(DUE)]
    )
    await keep_statistics(db)
    return due


async def fill_behind_finished(app: rota.App, db: psycopg.AsyncConnection[Any]) -> None:
    """FINISHED jobs, with statistics taken while they were queued (as at the start of a
    drain), then QUEUED new ones, which go after them in the table. A vacuum then takes out
    the claim indexes' entries of the finished jobs' old row versions, as autovacuum (or
    the claims' own index scans, marking them dead) would during a drain."""
    for _ in range(0, FINISHED, 10000):
        await app.enqueue_many(noop_jobs("acme", 10000))
    await keep_statistics(db)
    await db.execute("UPDATE jobs SET status = 'succeeded', finished_at = now()")
    await app.enqueue_many(noop_jobs("acme", QUEUED))
    await db.execute("VACUUM jobs")  # statistics of the columns stay those taken before


def params(statement: str) -> dict[str, Any]:
    worker = {"worker_id": uuid.uuid4(), "limit": 10, "lease_seconds": 60}
    walk = {"queue": "default", "cursor": "", "tenant_count": 4, "max_steps": 8}
    fair = {
        **worker,
        **walk,
        "tenants": None,
        "excluded_types": [],
        "default_weight": 1,
        "default_max_running": None,
    }
    return {
        "claim_jobs": {**worker, "queues": ["default"], "excluded_types": []},
        "scan_tenants": {**walk, "tenants": None, "lock_tenants": True},
        "claim_jobs_fair": {
            **fair,
            **{name: [] for name in ["limited_types", "type_caps", "type_grants"]},
            **{name: [] for name in ["pair_types", "pair_tenants", "pair_grants"]},
        },
        "claim_jobs_fair_open": fair,
    }[statement]


@pytest.mark.parametrize("backlog", ["delayed", "finished"])
@pytest.mark.parametrize(
    ("statement", "plan"),
    [
        ("claim_jobs", "custom"),  # on the pool, which keeps custom plans for it
        ("claim_jobs_fair", "custom"),
        ("claim_jobs_fair", "generic"),  # the claim connection's plans
        ("claim_jobs_fair_open", "custom"),
        ("claim_jobs_fair_open", "generic"),
        ("scan_tenants", "custom"),
        ("scan_tenants", "generic"),
    ],
)
async def test_a_claim_reads_neither_delayed_nor_finished_jobs_in_front_of_the_due_ones(
    backlog: str,
    statement: str,
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(make_app)
    if backlog == "delayed":
        await fill(app, db)  # the delayed jobs' entries alone fill ~200 pages of the index
    else:
        await fill_behind_finished(app, db)  # the finished jobs fill ~1,000 pages of the table
    read = await explained(db, plan, getattr(Queries(schema), statement), params(statement))
    assert pages_read(read, "jobs") <= 100
    if statement != "scan_tenants":  # the scan only locks tenants; the claims take the jobs
        assert claimed_rows(read) == (DUE if backlog == "delayed" else QUEUED)
    await app.close()


def claimed_rows(plan: dict[str, Any]) -> int:
    """Rows the plan's update of ``jobs`` changed."""
    own = 0
    if plan.get("Node Type") == "ModifyTable" and plan.get("Operation") == "Update":
        own = int(plan["Actual Rows"])
    return own + sum(claimed_rows(child) for child in plan.get("Plans", []))


@pytest.mark.parametrize("fair", [False, True])
async def test_due_jobs_of_a_later_priority_are_claimed_and_a_better_one_first_once_due(
    fair: bool,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
) -> None:
    app = noop_app(make_app)
    due = await fill(app, db)

    async def claim(limit: int) -> list[rota.Job]:
        worker_id = uuid.uuid4()
        if fair:
            jobs, _, _ = await app.claims_store().claim_fair(
                FairClaim(
                    queue="default", cursor="", limit=limit, worker_id=worker_id, lease_seconds=60
                )
            )
            return jobs
        return await app.jobs_store().claim_jobs(
            worker_id=worker_id,
            queues=["default"],
            excluded_types=[],
            limit=limit,
            lease_seconds=60,
        )

    first = await claim(2)
    assert [job.id for job in first] == [job.id for job in due[:2]]
    await db.execute("UPDATE jobs SET run_after = now() WHERE priority = 0 AND payload->>'n' = '7'")
    [better, *rest] = await claim(3)
    assert better.priority == 0
    assert better.payload == {"n": 7}
    assert rest == []  # one priority a claim: the worker claims again for the next
    assert [job.id for job in await claim(10)] == [job.id for job in due[2:]]
    await app.close()
