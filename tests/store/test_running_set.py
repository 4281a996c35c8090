"""A worker's statements on its own running jobs (completion, failure, progress, lease renewal,
release, an operator's cancel) read those jobs by primary key, however many other jobs run and
whatever the table's statistics say: statistics gathered while nothing ran made the planner
scan every running job for each statement (migration 0009)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql

import rota
from rota.core.job import Job
from rota.store.queries import Queries, positional

QUEUED = 4000  # enough that reading the whole table costs the planner more than the key
RUNNING = 120  # of them claimed by the worker; the statement touches BATCH of those
BATCH = 3


NOOP = "r.noop"


def noop_app(make_app: Callable[..., rota.App]) -> rota.App:
    app = make_app()

    @app.job(NOOP)
    async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


def noop_jobs(tenant_id: str, count: int) -> list[rota.JobRequest]:
    return [rota.JobRequest(NOOP, {"n": n}, tenant_id=tenant_id) for n in range(count)]


async def keep_statistics(db: psycopg.AsyncConnection[Any], table: str = "jobs") -> None:
    """Gather the table's statistics now, and keep them: autovacuum would refresh them."""
    name = sql.Identifier(table)
    await db.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = off)").format(name))
    await db.execute(sql.SQL("ANALYZE {}").format(name))


async def run_all_and_keep_statistics(
    app: rota.App, db: psycopg.AsyncConnection[Any], tenant_id: str, count: int
) -> None:
    """``count`` jobs of ``tenant_id`` that all ran (each a new row version, as claims and
    completions make), then statistics gathered and kept: the planner expects no queued job,
    and none of a tenant it has not seen."""
    await app.enqueue_many(noop_jobs(tenant_id, count))
    await db.execute("UPDATE jobs SET status = 'succeeded', finished_at = now()")
    await keep_statistics(db)


def rows_read_from_jobs(plan: dict[str, Any]) -> int:
    """Rows the plan's scans of ``jobs`` read (returned or filtered out), over all loops."""
    own = 0
    if plan.get("Relation Name") == "jobs" and "Scan" in plan["Node Type"]:
        read = int(plan["Actual Rows"]) + int(plan.get("Rows Removed by Filter", 0))
        own = read * int(plan["Actual Loops"])
    return own + sum(rows_read_from_jobs(child) for child in plan.get("Plans", []))


async def explained(
    db: psycopg.AsyncConnection[Any], plan: str, text: LiteralString, params: dict[str, Any]
) -> dict[str, Any]:
    """The executed plan of ``text`` (rolled back): planned for these values ("custom") or
    once for any values ("generic"), as a prepared statement may come to be."""
    await db.execute("BEGIN")
    prepared = False
    try:
        if plan == "custom":
            cursor = await db.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ") + sql.SQL(text),
                params,
            )
        else:
            await db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            numbered = positional(text)
            await db.execute(sql.SQL("PREPARE explained AS ") + sql.SQL(numbered.text))
            prepared = True
            values = sql.SQL(", ").join(sql.Literal(v) for v in numbered.params(params))
            cursor = await db.execute(
                sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE explained ({})").format(
                    values
                )
            )
        row = await cursor.fetchone()
    finally:
        await db.execute("ROLLBACK")
        if prepared:  # not undone by the rollback; DEALLOCATE ALL would drop psycopg's own
            await db.execute("DEALLOCATE explained")
    assert row is not None
    [result] = row["QUERY PLAN"]
    return dict(result["Plan"])


def pages_read(plan: dict[str, Any], table: str) -> int:
    """Pages of ``table`` and its indexes the plan's scans of ``table`` touched."""
    own = 0
    if plan.get("Relation Name") == table and "Scan" in plan["Node Type"]:
        own = int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])
    return own + sum(pages_read(child, table) for child in plan.get("Plans", []))


def params_for(statement: str, worker_id: uuid.UUID, jobs: list[Job]) -> dict[str, Any]:
    ids = [job.id for job in jobs]
    attempts = [job.attempt for job in jobs]
    channel = "rota_test_unused"
    one = jobs[0]
    return {
        "complete_jobs": {
            "worker_id": worker_id,
            "ids": ids,
            "attempts": attempts,
            "results": None,
            "outcome_channel": channel,
        },
        "finish_job": {
            "worker_id": worker_id,
            "id": one.id,
            "attempt": one.attempt,
            "status": "failed",
            "error": json.dumps({"code": "boom", "message": "boom"}),
            "error_code": "boom",
            "message": "boom",
            "delay_seconds": 0.0,
            "outcome_channel": channel,
        },
        "record_progress": {
            "worker_id": worker_id,
            "id": one.id,
            "attempt": one.attempt,
            "progress": 50,
            "message": "half",
        },
        "extend_leases": {
            "worker_id": worker_id,
            "ids": ids,
            "attempts": attempts,
            "lease_seconds": 60,
        },
        "release_jobs": {
            "worker_id": worker_id,
            "ids": ids,
            "attempts": attempts,
            "message": "released",
            "jobs_channel": channel,
        },
        "request_cancel": {"id": one.id, "message": "stop", "control_channel": channel},
    }[statement]


@pytest.mark.parametrize("plan", ["custom", "generic"])
@pytest.mark.parametrize(
    "statement",
    [
        "complete_jobs",
        "finish_job",
        "record_progress",
        "extend_leases",
        "release_jobs",
        "request_cancel",
    ],
)
async def test_a_statement_on_a_few_running_jobs_reads_only_those(
    statement: str,
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(make_app)
    await app.enqueue_many(noop_jobs("acme", QUEUED))
    # Statistics taken while nothing runs, and kept: the planner then expects no running job.
    await keep_statistics(db)
    worker_id = uuid.uuid4()
    claimed = await app.jobs_store().claim_jobs(
        worker_id=worker_id,
        queues=["default"],
        excluded_types=[],
        limit=RUNNING,
        lease_seconds=60,
    )
    assert len(claimed) == RUNNING
    text = getattr(Queries(schema), statement)
    plan_read = await explained(db, plan, text, params_for(statement, worker_id, claimed[:BATCH]))
    # The heartbeat (SKIP LOCKED) and the release (in id order) lock their rows first, then
    # update them: two reads of each.
    passes = 2 if statement in ("extend_leases", "release_jobs") else 1
    assert rows_read_from_jobs(plan_read) <= passes * BATCH
    await app.close()


async def test_a_job_has_a_lease_holder_exactly_while_it_runs(
    make_app: Callable[..., rota.App], db: psycopg.AsyncConnection[Any]
) -> None:
    """What lets those statements fence by holder alone: the database refuses a running job
    without one, and a holder on a job that does not run."""
    app = noop_app(make_app)
    job = await app.enqueue(NOOP, {}, tenant_id="acme")
    with pytest.raises(psycopg.errors.CheckViolation):
        await db.execute("UPDATE jobs SET status = 'running' WHERE id = %s", (job.id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        await db.execute("UPDATE jobs SET locked_by = gen_random_uuid() WHERE id = %s", (job.id,))
    await app.close()


@pytest.mark.parametrize("plan", ["custom", "generic"])
async def test_cancelling_a_queued_job_reads_only_that_job_however_many_are_queued(
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    app = noop_app(make_app)
    await run_all_and_keep_statistics(app, db, "acme", QUEUED)
    [job, *_] = await app.enqueue_many(noop_jobs("acme", QUEUED))
    params = {"id": job.id, "message": "stop", "outcome_channel": "rota_test_unused"}
    plan_read = await explained(db, plan, Queries(schema).cancel_queued_job, params)
    assert rows_read_from_jobs(plan_read) <= 1
    await app.close()


@pytest.mark.parametrize("plan", ["custom", "generic"])
async def test_a_wake_up_claim_reads_only_the_named_jobs_however_many_are_queued(
    plan: str,
    make_app: Callable[..., rota.App],
    db: psycopg.AsyncConnection[Any],
    schema: str,
) -> None:
    """The claim by id (an idle worker woken by a NOTIFY naming new jobs) probes the primary
    key: with statistics that saw nothing queued, it read every queued job of its queues."""
    app = noop_app(make_app)
    await run_all_and_keep_statistics(app, db, "acme", QUEUED)
    named = (await app.enqueue_many(noop_jobs("acme", QUEUED)))[-BATCH:]
    params = {
        "worker_id": uuid.uuid4(),
        "ids": [job.id for job in named],
        "queues": ["default"],
        "limit": 10,
        "lease_seconds": 60,
    }
    plan_read = await explained(db, plan, Queries(schema).claim_jobs_by_id, params)
    assert rows_read_from_jobs(plan_read) <= 2 * BATCH  # found, then updated
    await app.close()
