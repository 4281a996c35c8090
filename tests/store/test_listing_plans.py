"""An operator's listings (a page of jobs, the counts by queue and status) are planned for the
values of each call. Run as prepared statements, one session's listings of every tenant led
PostgreSQL to keep a generic plan, which cannot use the tenant's index: from then on, one
tenant's page read the whole table (1,000,000 jobs: 2.8 ms became 250-390 ms a page)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

import rota
from rota.store.db import AsyncConn
from rota.store.queries import Queries, positional
from tests.store.test_running_set import (
    QUEUED,
    keep_statistics,
    noop_app,
    noop_jobs,
    rows_read_from_jobs,
)

FEW = 12  # jobs of the tenant whose listing is checked
PAGE = 10
MARKS = {"list_jobs": "ORDER BY created_at DESC", "count_jobs": "GROUP BY queue, status"}


async def listing(app: rota.App, statement: str, tenant_id: str | None) -> int:
    if statement == "list_jobs":
        return len(await app.list_jobs(tenant_id=tenant_id, limit=PAGE))
    return sum(row["jobs"] for row in await app.count_jobs(tenant_id=tenant_id))


async def session_plan(
    session: AsyncConn, statement: str, text: LiteralString, params: dict[str, Any]
) -> dict[str, Any]:
    """The executed plan the session runs ``text`` with: its prepared statement's, if it
    holds one, else the plan of the statement run as it is."""
    cursor = session.cursor(row_factory=dict_row)
    await cursor.execute(
        "SELECT name FROM pg_prepared_statements WHERE statement LIKE %s",
        (f"%{MARKS[statement]}%",),
    )
    found = await cursor.fetchone()
    numbered = positional(text)
    if found is None:
        query = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(text)
        await cursor.execute(query, params)
    else:
        values = sql.SQL(", ").join(sql.Literal(v) for v in numbered.params(params))
        query = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {} ({})").format(
            sql.Identifier(found["name"]), values
        )
        await cursor.execute(query)
    row = await cursor.fetchone()
    assert row is not None
    [result] = row["QUERY PLAN"]
    return dict(result["Plan"])


@pytest.mark.parametrize("statement", ["list_jobs", "count_jobs"])
async def test_a_tenants_listing_reads_its_jobs_after_listings_of_every_tenant(
    statement: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(partial(make_app, pool_max_size=1))  # one session serves every call
    await app.enqueue_many(noop_jobs("acme", QUEUED))
    await app.enqueue_many(noop_jobs("zeta", FEW))
    await keep_statistics(db)
    # psycopg prepares a statement at its fifth run, and PostgreSQL weighs a generic plan
    # after five custom ones.
    for _ in range(12):
        assert await listing(app, statement, None) >= PAGE
    assert await listing(app, statement, "zeta") == (PAGE if statement == "list_jobs" else FEW)
    params = {
        "all_tenants": False,
        "tenant_id": "zeta",
        **dict.fromkeys(["status", "type", "queue", "created_after", "created_before"]),
        **dict.fromkeys(["before_created_at", "before_id"]),
        "limit": PAGE,
    }
    if statement == "count_jobs":
        params = {"all_tenants": False, "tenant_id": "zeta"}
    async with app.jobs_store().db.connection() as session:
        plan = await session_plan(session, statement, getattr(Queries(schema), statement), params)
    assert rows_read_from_jobs(plan) <= FEW
    await app.close()
