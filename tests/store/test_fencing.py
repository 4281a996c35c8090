"""Leases, fencing, rescue and pruning, driven statement by statement (no worker loop)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rota
from rota.core.job import Job, JobStatus
from rota.store.claims import FairClaim
from rota.store.jobs import Completion, JobStore
from rota.worker.heartbeat import Heartbeat
from tests.support.waiting import eventually

Conn = psycopg.AsyncConnection[Any]


def build(make_app: Callable[..., rota.App], max_attempts: int = 3) -> rota.App:
    app = make_app()

    @app.job("f.job", max_attempts=max_attempts)
    async def job(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def claim(store: JobStore, worker_id: uuid.UUID) -> list[rota.Job]:
    return await store.claim_jobs(
        worker_id=worker_id, queues=["default"], excluded_types=[], limit=10, lease_seconds=30
    )


async def waiting_for_a_lock(db: Conn, statement: str) -> int:
    """Sessions waiting for a lock in a statement whose text contains ``statement``."""
    row = await (
        await db.execute(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND position(%s IN query) > 0",
            (statement,),
        )
    ).fetchone()
    assert row is not None
    return int(row["n"])


async def expire_leases(db: Conn) -> None:
    await db.execute(
        "UPDATE jobs SET locked_until = now() - interval '1 second' WHERE status = 'running'"
    )


async def test_a_stale_worker_cannot_complete_a_reclaimed_job(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    store = app.jobs_store()
    stale, fresh = uuid.uuid4(), uuid.uuid4()
    job = await app.enqueue("f.job", {}, tenant_id="acme")

    [first] = await claim(store, stale)
    assert first.attempt == 1
    await expire_leases(db)
    rescued = await store.rescue_jobs(100)
    assert [(r["id"], r["status"]) for r in rescued] == [(job.id, "queued")]
    [second] = await claim(store, fresh)
    assert second.attempt == 2

    # Every write of the stale run is fenced out.
    assert await store.complete_jobs(stale, [Completion(job.id, 1, '"late"')]) == [False]
    assert not await store.finish_job(
        worker_id=stale,
        job_id=job.id,
        attempt=1,
        status=JobStatus.FAILED,
        error={"code": "x", "message": "late"},
    )
    assert not await store.record_progress(
        worker_id=stale, job_id=job.id, attempt=1, progress=99, message="late"
    )
    current = await app.get_job(job.id)
    assert (current.status, current.locked_by, current.progress) == (
        JobStatus.RUNNING,
        fresh,
        None,
    )

    assert await store.complete_jobs(fresh, [Completion(job.id, 2, '"ok"')]) == [True]
    done = await app.get_job(job.id)
    assert (done.status, done.result) == (JobStatus.SUCCEEDED, "ok")
    runs = await (
        await db.execute(
            "SELECT attempt, outcome FROM job_runs WHERE job_id = %s ORDER BY attempt", (job.id,)
        )
    ).fetchall()
    assert [(r["attempt"], r["outcome"]) for r in runs] == [(1, "lost"), (2, "succeeded")]
    await app.close()


async def test_the_same_worker_cannot_complete_an_older_attempt(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    store = app.jobs_store()
    worker = uuid.uuid4()
    job = await app.enqueue("f.job", {}, tenant_id="acme")
    await claim(store, worker)
    await expire_leases(db)
    await store.rescue_jobs(100)
    await claim(store, worker)
    assert await store.complete_jobs(worker, [Completion(job.id, 1, None)]) == [False]
    assert (await app.get_job(job.id)).status is JobStatus.RUNNING
    await app.close()


async def test_rescue_poisons_a_job_whose_attempts_are_used_up(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app, max_attempts=1)
    store = app.jobs_store()
    job = await app.enqueue("f.job", {}, tenant_id="acme")
    await claim(store, uuid.uuid4())
    await expire_leases(db)
    [row] = await store.rescue_jobs(100)
    assert row["status"] == "poisoned"
    done = await app.get_job(job.id)
    assert done.status is JobStatus.POISONED
    assert done.error is not None
    assert done.error["code"] == "lease_expired"
    await app.close()


async def test_rescue_leaves_live_leases_alone(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = build(make_app)
    store = app.jobs_store()
    await app.enqueue("f.job", {}, tenant_id="acme")
    await claim(store, uuid.uuid4())
    assert await store.rescue_jobs(100) == []
    await app.close()


async def test_heartbeat_extends_only_held_leases(
    make_app: Callable[..., rota.App], postgres_url: str, db: Conn
) -> None:
    app = build(make_app)
    store = app.jobs_store()
    owner, other = uuid.uuid4(), uuid.uuid4()
    job = await app.enqueue("f.job", {}, tenant_id="acme")
    await claim(store, owner)
    conn = await app.database().connect()
    try:
        assert (
            await store.extend_leases(conn, worker_id=other, held=[(job.id, 1)], lease_seconds=60)
            == {}
        )
        assert await store.extend_leases(
            conn, worker_id=owner, held=[(job.id, 1)], lease_seconds=60
        ) == {job.id: False}
    finally:
        await conn.close()
    row = await (
        await db.execute("SELECT locked_until - now() AS left FROM jobs WHERE id = %s", (job.id,))
    ).fetchone()
    assert row is not None
    assert row["left"].total_seconds() > 50
    await app.close()


async def test_heartbeat_does_not_wait_for_a_row_another_statement_holds(
    make_app: Callable[..., rota.App], postgres_url: str, schema: str, db: Conn
) -> None:
    """A renewal that waited for the rows a completion holds could deadlock with it (each
    holding a row the other wants). It takes the rows it can, reports the locked one as still
    held without renewing it, and leaves the locker free to finish."""
    app = build(make_app)
    store = app.jobs_store()
    owner = uuid.uuid4()
    await app.enqueue_many([rota.JobRequest("f.job", {}, tenant_id="acme") for _ in range(2)])
    busy, free = await claim(store, owner)
    locker = await psycopg.AsyncConnection.connect(postgres_url)
    conn = await app.database().connect()
    try:
        # A completion in flight: the row stays locked until its transaction ends.
        await locker.execute(
            sql.SQL("UPDATE {}.jobs SET progress = 1 WHERE id = %s").format(sql.Identifier(schema)),
            (busy.id,),
        )
        held = [(busy.id, 1), (free.id, 1)]
        kept = await asyncio.wait_for(
            store.extend_leases(conn, worker_id=owner, held=held, lease_seconds=600), timeout=10
        )
        assert kept == {busy.id: False, free.id: False}
        await locker.rollback()
    finally:
        await locker.close()
        await conn.close()
    rows = await db.execute("SELECT id, locked_until - now() AS left FROM jobs")
    left = {row["id"]: row["left"].total_seconds() for row in await rows.fetchall()}
    assert left[free.id] > 500  # renewed
    assert left[busy.id] < 60  # still the claim's 30 s: renewed by the next heartbeat
    await app.close()


async def test_a_renewal_blocked_by_a_table_lock_is_given_up_by_the_server_too(
    make_app: Callable[..., rota.App], postgres_url: str, schema: str, db: Conn
) -> None:
    """A renewal with no answer within the interval is abandoned with its connection. While
    it waits for a lock (a migration's, here a LOCK TABLE), its session would stay, waiting,
    after the worker left it, one more at every beat: the heartbeat's sessions give up lock
    waits after half the interval, and the next beat after the lock renews."""
    app = build(make_app)
    store = app.jobs_store()
    owner = uuid.uuid4()
    job = await app.enqueue("f.job", {}, tenant_id="acme")
    await claim(store, owner)
    heartbeat = Heartbeat(
        db=app.database(),
        store=store,
        worker_id=owner,
        lease_seconds=600,
        interval_seconds=0.4,
        held=lambda: {job.id: 1},
        on_lost=lambda job_id, attempt: None,
        on_cancel_requested=lambda job_id: None,
    )

    async def none_waiting() -> bool:
        return await waiting_for_a_lock(db, "SET heartbeat_at") == 0

    locker = await psycopg.AsyncConnection.connect(postgres_url)
    try:
        await locker.execute(
            sql.SQL("LOCK TABLE {}.jobs IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(schema))
        )
        await heartbeat.beat_once()
        await heartbeat.beat_once()
        await eventually(none_waiting, timeout=3)
        await locker.rollback()
        await heartbeat.beat_once()
    finally:
        await locker.close()
        await heartbeat.close()
    row = await (
        await db.execute("SELECT locked_until - now() AS left FROM jobs WHERE id = %s", (job.id,))
    ).fetchone()
    assert row is not None
    assert row["left"].total_seconds() > 500  # renewed once the lock was gone
    await app.close()


async def test_a_release_meeting_a_completion_of_the_same_jobs_does_not_deadlock(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    """At shutdown a release can take jobs whose completion is being written. Both lock rows
    in id order (release_jobs.sql; the completer sorts its batch), so the release waits for
    the completion instead of holding a row it wants: no deadlock, and completed jobs are not
    released."""
    app = build(make_app)
    store = app.jobs_store()
    owner = uuid.uuid4()
    await app.enqueue_many([rota.JobRequest("f.job", {}, tenant_id="acme") for _ in range(2)])
    low, high = sorted(await claim(store, owner), key=lambda job: job.id)
    # A new version of the lower id's row, after the other in the table: a statement that
    # reads this small table in its physical order meets the higher id first.
    await db.execute("UPDATE jobs SET progress = 1 WHERE id = %s", (low.id,))
    in_table_order = await (await db.execute("SELECT id FROM jobs ORDER BY ctid")).fetchall()
    assert [row["id"] for row in in_table_order] == [high.id, low.id]
    completing = await app.database().connect()

    async def release_waits() -> bool:
        return await waiting_for_a_lock(db, "released AS (") == 1

    try:
        async with completing.transaction():
            assert await store.complete_jobs(owner, [Completion(low.id, 1, None)], completing)
            # Given in the other order, as a worker's list of running jobs may be.
            release = asyncio.create_task(
                store.release_jobs(owner, [(high.id, 1), (low.id, 1)], "released at shutdown")
            )
            await eventually(release_waits)
            assert await store.complete_jobs(owner, [Completion(high.id, 1, None)], completing)
        assert await asyncio.wait_for(release, timeout=10) == set()
    finally:
        await completing.close()
    statuses = await db.execute(
        "SELECT status FROM jobs WHERE id = ANY(%s) GROUP BY status", ([low.id, high.id],)
    )
    assert await statuses.fetchall() == [{"status": "succeeded"}]
    await app.close()


async def test_pruning_deletes_old_finished_jobs_with_their_history(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    store = app.jobs_store()
    worker = uuid.uuid4()
    old = await app.enqueue("f.job", {}, tenant_id="acme")
    recent = await app.enqueue("f.job", {}, tenant_id="acme")
    waiting = await app.enqueue("f.job", {}, tenant_id="acme", run_after=None)
    await db.execute("UPDATE jobs SET priority = 1 WHERE id = %s", (waiting.id,))
    claimed = await store.claim_jobs(
        worker_id=worker, queues=["default"], excluded_types=[], limit=2, lease_seconds=30
    )
    assert {j.id for j in claimed} == {old.id, recent.id}
    await store.complete_jobs(worker, [Completion(j.id, j.attempt, None) for j in claimed])
    await db.execute(
        "UPDATE jobs SET finished_at = now() - interval '2 days' WHERE id = %s", (old.id,)
    )
    assert await store.prune_jobs(retention_seconds=86400, limit=10) == 1
    left = {r["id"] for r in await (await db.execute("SELECT id FROM jobs")).fetchall()}
    assert left == {recent.id, waiting.id}
    for table in ("job_events", "job_runs"):
        row = await (
            await db.execute(
                f"SELECT count(*) AS n FROM {table} WHERE job_id = %s",
                (old.id,),
            )
        ).fetchone()
        assert row is not None
        assert row["n"] == 0
    await app.close()


async def test_a_batch_completion_records_each_result_and_fences_each_run_on_its_own(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    store = app.jobs_store()
    worker = uuid.uuid4()
    for i in range(4):
        await app.enqueue("f.job", {"i": i}, tenant_id="acme")
    a, b, c, d = await claim(store, worker)

    # Only some runs returned a result; one entry names an attempt this worker never ran.
    done = await store.complete_jobs(
        worker,
        [
            Completion(a.id, a.attempt, '{"n": 1}'),
            Completion(c.id, c.attempt + 1, '"stale"'),
            Completion(b.id, b.attempt, None),
        ],
    )
    assert done == [True, False, True]  # in the order given
    # A batch where no run returned anything.
    assert await store.complete_jobs(worker, [Completion(d.id, d.attempt, None)]) == [True]

    rows = await (await db.execute("SELECT id, status, result FROM jobs")).fetchall()
    state = {r["id"]: (r["status"], r["result"]) for r in rows}
    assert state == {
        a.id: ("succeeded", {"n": 1}),
        b.id: ("succeeded", None),
        c.id: ("running", None),
        d.id: ("succeeded", None),
    }
    runs = await (await db.execute("SELECT job_id FROM job_runs")).fetchall()
    assert sorted(str(r["job_id"]) for r in runs) == sorted(str(j.id) for j in (a, b, d))
    await app.close()


async def test_a_claimed_job_reads_back_every_field_as_stored(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    # The claims build their Jobs on a path of their own (store.jobs._job_builder); what they
    # hand the handler must be the row as any other read returns it.
    app = build(make_app)
    store = app.jobs_store()
    worker = uuid.uuid4()
    envelope = {
        "actor_id": "user-7",
        "idempotency_key": "order-42",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "request_id": "req-1",
        "correlation_id": "corr-1",
    }
    fifo = await app.enqueue("f.job", {"n": 1, "tags": ["a"]}, tenant_id="acme", **envelope)
    fair = await app.enqueue("f.job", {"n": 2}, tenant_id="globex", priority=3)
    await db.execute('UPDATE jobs SET progress = 50, error = \'{"code": "x"}\' WHERE true')

    [by_fifo] = await store.claim_jobs(
        worker_id=worker, queues=["default"], excluded_types=[], limit=1, lease_seconds=30
    )
    jobs, _, _ = await app.claims_store().claim_fair(
        FairClaim(queue="default", cursor="", limit=5, worker_id=worker, lease_seconds=30)
    )
    [by_fair] = jobs
    assert (by_fifo.id, by_fair.id) == (fifo.id, fair.id)
    for claimed in (by_fifo, by_fair):
        read = await app.get_job(claimed.id)
        assert claimed == read
        assert type(claimed) is Job
        with pytest.raises(dataclasses.FrozenInstanceError):
            claimed.attempt = 5  # type: ignore[misc]
        assert claimed.status is JobStatus.RUNNING
        assert (claimed.locked_by, claimed.attempt, claimed.progress) == (worker, 1, 50)
    assert (by_fifo.payload, by_fifo.actor_id, by_fifo.idempotency_key) == (
        {"n": 1, "tags": ["a"]},
        "user-7",
        "order-42",
    )
    assert by_fifo.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (by_fair.priority, by_fair.tenant_id, by_fair.error) == (3, "globex", {"code": "x"})
    await app.close()
