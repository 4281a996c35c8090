"""A tenant's read or lock of one job by id uses the primary key, also for a tenant the table's
statistics have not seen yet: with ``tenant_id = ...`` as an index condition the planner went
through the index entries of every job of that tenant in ``jobs_tenant_created_idx`` to find
one (52-54 pages for 4,000 jobs here, against 3-4 by the key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import rota
from rota.store.queries import Queries
from tests.store.test_running_set import (
    QUEUED,
    explained,
    keep_statistics,
    noop_app,
    noop_jobs,
    pages_read_from_jobs,
)

OLD_HAND = 20000  # jobs of a tenant the statistics know


@pytest.mark.parametrize("plan", ["custom", "generic"])
@pytest.mark.parametrize("statement", ["get_job", "lock_job", "list_job_events"])
async def test_one_job_of_a_new_tenant_is_read_by_its_key(
    statement: str,
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(make_app)
    await app.enqueue_many(noop_jobs("old-hand", OLD_HAND))
    # The old tenant's jobs ran (each a new row version, as claims and completions make), and
    # statistics were taken before the new tenant's first job, and kept.
    await db.execute("UPDATE jobs SET status = 'succeeded', finished_at = now()")
    await keep_statistics(db)
    [job, *_] = await app.enqueue_many(noop_jobs("newcomer", QUEUED))
    params = {
        "id": job.id,
        "all_tenants": False,
        "tenant_id": "newcomer",
        "after_id": 0,
        "limit": 100,
    }
    read = await explained(db, plan, getattr(Queries(schema), statement), params)
    assert pages_read_from_jobs(read) <= 6  # the key's few levels and the row's page
    await app.close()
