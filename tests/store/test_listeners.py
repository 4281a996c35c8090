"""Job events and outcomes are NOTIFYed only while a listener announces that it reads them;
the announcement is renewed while it listens and withdrawn when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rota
from rota.store.listen import Listener
from tests.support.notify import listening

Conn = psycopg.AsyncConnection[Any]
SENTINEL = "sentinel"


@pytest.fixture
async def watcher(postgres_url: str, schema: str) -> AsyncIterator[Conn]:
    """A plain LISTEN on the schema's events and outcomes channels."""
    async with listening(postgres_url, f"{schema}.events", f"{schema}.outcomes") as conn:
        yield conn


async def received(watcher: Conn, postgres_url: str, schema: str) -> list[tuple[str, str]]:
    """Everything sent to the watcher so far: notifications arrive in commit order, so once
    a sentinel sent now arrives, nothing sent before it is still on its way."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (f"{schema}.events", SENTINEL))
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(10):
        async for notify in watcher.notifies():
            if notify.payload == SENTINEL:
                return seen
            seen.append((notify.channel.rsplit(".", 1)[1], notify.payload))
    return seen


def build(make_app: Callable[..., rota.App]) -> rota.App:
    app = make_app()

    @app.job("l.noop")
    async def noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def test_nothing_is_notified_while_nobody_announced_a_listener(
    make_app: Callable[..., rota.App], watcher: Conn, postgres_url: str, schema: str
) -> None:
    app = build(make_app)
    job = await app.enqueue("l.noop", {}, tenant_id="acme")
    await app.cancel((await app.enqueue("l.noop", {}, tenant_id="acme")).id)
    assert await app.worker().drain() == 1
    assert (await app.get_job(job.id)).status is rota.JobStatus.SUCCEEDED
    assert await received(watcher, postgres_url, schema) == []
    await app.close()


async def test_announced_listeners_get_events_and_outcomes_until_they_stop(
    make_app: Callable[..., rota.App], watcher: Conn, postgres_url: str, schema: str, db: Conn
) -> None:
    app = build(make_app)
    listeners = [
        Listener(
            app.database(), [f"{schema}.{kind}"], lambda *_: None, announce=[kind], schema=schema
        )
        for kind in ("events", "outcomes")
    ]
    tasks = [asyncio.create_task(listener.run()) for listener in listeners]
    for listener in listeners:
        await asyncio.wait_for(listener.connected.wait(), 10)

    job = await app.enqueue("l.noop", {}, tenant_id="acme")
    assert await app.worker().drain() == 1
    seen = await received(watcher, postgres_url, schema)
    assert ("events", str(job.id)) in seen  # claim and success, one NOTIFY per statement
    outcomes = [payload for kind, payload in seen if kind == "outcomes"]
    assert len(outcomes) == 1
    assert str(job.id) in outcomes[0]

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    row = await (await db.execute("SELECT count(*) AS n FROM listeners")).fetchone()
    assert row == {"n": 0}  # withdrawn at once, not left to expire
    await app.enqueue("l.noop", {}, tenant_id="acme")
    assert await app.worker().drain() == 1
    assert await received(watcher, postgres_url, schema) == []
    await app.close()


async def test_an_expired_announcement_no_longer_counts(
    make_app: Callable[..., rota.App], watcher: Conn, postgres_url: str, schema: str, db: Conn
) -> None:
    app = build(make_app)
    await db.execute(
        "INSERT INTO listeners (id, channel, expires_at) "
        "VALUES (gen_random_uuid(), 'events', now() - interval '1 second')"
    )
    await app.enqueue("l.noop", {}, tenant_id="acme")
    assert await app.worker().drain() == 1
    assert await received(watcher, postgres_url, schema) == []
    await app.close()


async def test_closing_app_outcomes_withdraws_its_announcement_and_closes_its_session(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    """A reader that stops reading ``App.outcomes()`` leaves no listener behind: the
    announcement would keep every completion NOTIFYing for nobody until it expired, and the
    LISTEN session would stay open until garbage collection, or for good if the event loop
    ended first."""
    app = build(make_app)
    listening = asyncio.Event()
    outcomes = app.outcomes(ready=listening)
    reader = asyncio.create_task(anext(outcomes))
    await asyncio.wait_for(listening.wait(), 10)

    async def announced() -> int:
        row = await (await db.execute("SELECT count(*) AS n FROM listeners")).fetchone()
        assert row is not None
        return int(row["n"])

    assert await announced() == 1
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await outcomes.aclose()
    assert await announced() == 0  # withdrawn before aclose() returned
    await app.close()


async def test_a_listener_cancelled_again_while_it_withdraws_still_closes_its_session(
    make_app: Callable[..., rota.App], postgres_url: str, schema: str, db: Conn
) -> None:
    """The loop's end cancels whatever is left (``asyncio.run``, an async generator closed by
    the garbage collector): a second cancellation that lands while the listener withdraws
    its announcement must not skip closing its session."""
    app = build(make_app)
    name = "rota-listen"
    listener = Listener(
        app.database(), [f"{schema}.outcomes"], lambda channel, payload: None,
        announce=["outcomes"], schema=schema,
    )  # fmt: skip
    task = asyncio.create_task(listener.run())
    await asyncio.wait_for(listener.connected.wait(), 10)
    row = await (
        await db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = "
            "current_database() AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1",
            (name,),
        )
    ).fetchone()
    assert row is not None
    pid = row["pid"]
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as blocker:
        await blocker.execute("BEGIN")
        await blocker.execute(
            sql.SQL("LOCK TABLE {}.listeners IN ACCESS EXCLUSIVE MODE").format(
                sql.Identifier(schema)
            )
        )
        task.cancel()  # the listener starts withdrawing, and waits for the lock
        while True:
            wait = await (
                await db.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
                )
            ).fetchone()
            if wait is not None and wait["wait_event_type"] == "Lock":
                break
        task.cancel()  # cancelled again while it withdraws
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.execute("ROLLBACK")
    async with asyncio.timeout(10):
        while True:  # the server sees the session end at once, and reports it a bit later
            gone = await (
                await db.execute(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE pid = %s", (pid,)
                )
            ).fetchone()
            if gone is not None and gone["n"] == 0:
                break
            await asyncio.sleep(0.01)
    await app.close()
