"""Every way a job is inserted wakes its queue's workers (migration 0011: the statements send
the NOTIFY, no trigger): the queue, then the new due jobs' ids when at most 16 of them; never
for a delayed job or a rolled-back insert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import BaseModel

import rota
from tests.support.notify import listening, wake_up


class Item(BaseModel):
    n: int = 0


def build(make_app: Callable[..., rota.App]) -> rota.App:
    app = make_app(schedule_grace_seconds=30)

    @app.job("w.mail", queue="mail")
    async def mail(ctx: rota.JobContext, payload: Item) -> None:
        return None

    @app.job("w.sms", queue="sms")
    async def sms(ctx: rota.JobContext, payload: Item) -> None:
        return None

    @app.job("w.sweep", system=True, queue="maintenance")
    async def sweep(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


@pytest.fixture
async def listen(
    make_app: Callable[..., rota.App], postgres_url: str
) -> AsyncIterator[tuple[rota.App, psycopg.AsyncConnection[Any]]]:
    app = build(make_app)
    async with listening(postgres_url, f"{app.settings.schema_name}.jobs") as conn:
        yield app, conn
    await app.close()


async def next_payloads(conn: psycopg.AsyncConnection[Any], count: int = 1) -> list[str]:
    """The next ``count`` notifications (one generator: several can arrive in one read)."""
    payloads = [n.payload async for n in conn.notifies(timeout=10, stop_after=count)]
    assert len(payloads) == count, payloads
    return payloads


async def test_enqueue_sync_names_its_job(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]],
) -> None:
    app, conn = listen
    job = await asyncio.to_thread(app.enqueue_sync, "w.mail", Item(), tenant_id="acme")
    assert await next_payloads(conn) == [f"mail {job.id}"]


async def test_an_inserted_batch_names_only_its_due_jobs(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]],
) -> None:
    app, conn = listen
    later = rota.JobRequest("w.mail", Item(), tenant_id="acme", run_after=timedelta(hours=1))
    jobs = await app.enqueue_many(
        [later, *(rota.JobRequest("w.mail", Item(n=n), tenant_id="acme") for n in range(3))]
    )
    [payload] = await next_payloads(conn)
    assert wake_up(payload) == ("mail", frozenset(job.id for job in jobs[1:]))


async def test_a_copied_batch_wakes_each_of_its_queues(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]],
) -> None:
    app, conn = listen
    jobs = await app.enqueue_many(
        [rota.JobRequest("w.mail", Item(n=n), tenant_id="acme") for n in range(70)]
        + [rota.JobRequest("w.sms", Item(n=n), tenant_id="acme") for n in range(3)]
    )
    payloads = {wake_up(payload) for payload in await next_payloads(conn, 2)}
    assert (
        payloads
        == {
            ("mail", frozenset()),  # 70 due: the queue only
            ("sms", frozenset(job.id for job in jobs[70:])),
        }
    )


@pytest.mark.parametrize("filler", [0, 48], ids=["insert", "copy"])
async def test_a_wake_up_names_at_most_16_jobs_by_either_path(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]], filler: int
) -> None:
    """A batch under 64 jobs goes by INSERT (the rule in insert_jobs.sql), one of 64 or more
    by COPY (the rule in Python): both name 16 new jobs, and past that only the queue."""
    app, conn = listen
    for count in (16, 17):
        jobs = await app.enqueue_many(
            [rota.JobRequest("w.mail", Item(n=n), tenant_id="acme") for n in range(filler)]
            + [rota.JobRequest("w.sms", Item(n=n), tenant_id="acme") for n in range(count)]
        )
        payloads = dict(
            wake_up(payload) for payload in await next_payloads(conn, 2 if filler else 1)
        )
        expected = frozenset(job.id for job in jobs[filler:]) if count <= 16 else frozenset()
        assert payloads["sms"] == expected


async def test_no_wake_up_for_a_delayed_job_or_a_rolled_back_batch(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]], postgres_url: str
) -> None:
    app, conn = listen
    await app.enqueue("w.mail", Item(), tenant_id="acme", run_after=timedelta(hours=1))
    async with await psycopg.AsyncConnection.connect(postgres_url, row_factory=dict_row) as tx:
        await app.enqueue_many(
            [rota.JobRequest("w.mail", Item(n=n), tenant_id="acme") for n in range(100)],
            connection=tx,
        )
        await app.enqueue("w.sms", Item(), tenant_id="acme", connection=tx)
        await tx.rollback()
    marker = await app.enqueue("w.sms", Item(), tenant_id="acme")
    # Notifications arrive in commit order: the first one is the marker's.
    assert await next_payloads(conn) == [f"sms {marker.id}"]


async def test_a_system_schedule_tick_names_its_job(
    listen: tuple[rota.App, psycopg.AsyncConnection[Any]],
) -> None:
    app, conn = listen
    app.schedule("w.sweep", cron="* * * * *")
    scheduler = app.schedulers()[0]
    now = datetime.now(UTC).replace(second=5, microsecond=0)
    assert await scheduler.run_once(now=now) == 1
    [payload] = await next_payloads(conn)
    queue, ids = wake_up(payload)
    assert queue == "maintenance"
    [job] = await app.list_jobs(type="w.sweep")
    assert ids == {job.id}
