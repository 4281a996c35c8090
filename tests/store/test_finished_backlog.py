"""Claims with many finished jobs kept (retention) ahead of the queued ones in the table. A
claim asks whether a priority, or a tenant, has a due job; asked as `EXISTS`, the planner may
answer it by reading `jobs` from its first page, betting that a matching row comes early. It
chose that in the claim connection's generic plans during every drain, once the statistics
had seen many queued jobs: the finished jobs kept at the front of the table were read at
every claim (2.4 ms of a 4.5 ms claim after 900 finished jobs, and growing with retention).
The probes now read the oldest queued job in index order, which no table scan can serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import rota
from rota.store.queries import Queries
from tests.store.test_delayed_backlog import params
from tests.store.test_running_set import explained, keep_statistics, noop_app, noop_jobs, pages_read

FINISHED = 20000
QUEUED = 5


async def fill(app: rota.App, db: psycopg.AsyncConnection[Any]) -> None:
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


@pytest.mark.parametrize(
    ("statement", "plan"),
    [
        ("claim_jobs", "custom"),  # on the pool, which keeps custom plans for it
        ("claim_jobs_fair", "custom"),
        ("claim_jobs_fair", "generic"),  # the claim connection's plans
        ("scan_tenants", "custom"),
        ("scan_tenants", "generic"),
    ],
)
async def test_a_claim_does_not_read_the_finished_jobs_kept_before_the_queued_ones(
    statement: str,
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(make_app)
    await fill(app, db)
    read = await explained(db, plan, getattr(Queries(schema), statement), params(statement))
    # The finished jobs fill about 1,000 pages of the table; the claim's index probes and the
    # five queued jobs take a few dozen.
    assert pages_read(read, "jobs") <= 100, statement
    if statement != "scan_tenants":  # the scan only locks tenants; the claims take the jobs
        assert claimed_rows(read) == QUEUED
    await app.close()


def claimed_rows(plan: dict[str, Any]) -> int:
    """Rows the plan's update of ``jobs`` changed."""
    own = 0
    if plan.get("Node Type") == "ModifyTable" and plan.get("Operation") == "Update":
        own = int(plan["Actual Rows"])
    return own + sum(claimed_rows(child) for child in plan.get("Plans", []))
