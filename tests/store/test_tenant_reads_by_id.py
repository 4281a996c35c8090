"""A tenant's read or lock of one job, or read, change or removal of one schedule, by id uses
the primary key, also for a tenant the table's statistics have not seen yet: with
``tenant_id = ...`` as an index condition the planner went through the index entries of every
job (or schedule) of that tenant to find one (52-54 pages for 4,000 jobs here, 41-43 for
4,000 schedules, against 3-4 by the key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
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
    pages_read,
    run_all_and_keep_statistics,
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
    await run_all_and_keep_statistics(app, db, "old-hand", OLD_HAND)
    [job, *_] = await app.enqueue_many(noop_jobs("newcomer", QUEUED))
    params = {
        "id": job.id,
        "all_tenants": False,
        "tenant_id": "newcomer",
        "after_id": 0,
        "limit": 100,
    }
    read = await explained(db, plan, getattr(Queries(schema), statement), params)
    assert pages_read(read, "jobs") <= 6  # the key's few levels and the row's page
    await app.close()


@pytest.mark.parametrize("plan", ["custom", "generic"])
@pytest.mark.parametrize("statement", ["get_schedule", "update_schedule", "delete_schedule"])
async def test_one_schedule_of_a_new_tenant_is_found_by_its_key(
    statement: str,
    plan: str,
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    many = """
        INSERT INTO scheduled_jobs (id, tenant_id, type, payload, kind, time_of_day, timezone,
            next_run_at)
        SELECT gen_random_uuid(), %s, 'r.noop', '{}', 'daily', '09:00', 'UTC', now()
        FROM generate_series(1, %s)
        RETURNING id
    """
    await db.execute(many, ("old-hand", OLD_HAND))
    # Statistics taken before the new tenant's first schedule, and kept.
    await keep_statistics(db, "scheduled_jobs")
    cursor = await db.execute(many, ("newcomer", QUEUED))
    row = await cursor.fetchone()
    assert row is not None
    params = {
        "id": row["id"],
        "all_tenants": False,
        "tenant_id": "newcomer",
        "is_paused": True,
        "payload": "{}",
        "kind": "daily",
        "time_of_day": "10:00",
        "weekdays": [],
        "day_of_month": None,
        "cron": None,
        "timezone": "UTC",
        "next_run_at": datetime.now(UTC),
    }
    read = await explained(db, plan, getattr(Queries(schema), statement), params)
    assert pages_read(read, "scheduled_jobs") <= 6
