"""System schedules against a real database: one job per tick, missed-tick policies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import rota

Conn = psycopg.AsyncConnection[Any]
START = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def build(make_app: Callable[..., rota.App], on_missed: str = "skip") -> rota.App:
    app = make_app(schedule_grace_seconds=30)

    @app.job("maintenance.sweep", system=True)
    async def sweep(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    app.schedule(
        "maintenance.sweep", cron="* * * * *", payload={"deep": False}, on_missed=on_missed
    )  # type: ignore[arg-type]
    return app


async def test_three_schedulers_fire_each_tick_exactly_once(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    apps = [build(make_app) for _ in range(3)]
    schedulers = [app.schedulers()[0] for app in apps]
    minutes = 40
    fired = 0
    for minute in range(minutes):
        now = START + timedelta(minutes=minute, seconds=5)
        results = await asyncio.gather(*(s.run_once(now=now) for s in schedulers))
        fired += sum(results)
    assert fired == minutes
    rows = await (
        await db.execute(
            "SELECT t.tick_at, count(j.id) AS jobs FROM schedule_ticks t "
            "JOIN jobs j ON j.id = t.job_id GROUP BY t.tick_at ORDER BY t.tick_at"
        )
    ).fetchall()
    assert [r["tick_at"] for r in rows] == [START + timedelta(minutes=m) for m in range(minutes)]
    assert {r["jobs"] for r in rows} == {1}
    job = await (await db.execute("SELECT * FROM jobs LIMIT 1")).fetchone()
    assert job is not None
    assert (job["tenant_id"], job["type"], job["payload"]) == (
        None,
        "maintenance.sweep",
        {"deep": False},
    )
    assert job["correlation_id"] == "system:maintenance.sweep"
    for app in apps:
        await app.close()


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("run_once", 1)])
async def test_missed_ticks_follow_the_policy_after_downtime(
    make_app: Callable[..., rota.App], db: Conn, policy: str, expected: int
) -> None:
    app = build(make_app, policy)
    scheduler = app.schedulers()[0]
    assert await scheduler.run_once(now=START + timedelta(seconds=1)) == 1
    # Five hours without any worker; the scheduler comes back 45 s after a tick.
    back = START + timedelta(hours=5, seconds=45)
    assert await scheduler.run_once(now=back) == expected
    # From then on, ticks fire normally again.
    assert await scheduler.run_once(now=back + timedelta(seconds=20)) == 1
    count = await (await db.execute("SELECT count(*) AS n FROM jobs")).fetchone()
    assert count is not None
    assert count["n"] == 2 + expected
    await app.close()


def test_schedules_must_enqueue_system_jobs(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("tenant.report")
    async def report(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    with pytest.raises(rota.JobTypeError, match="user job"):
        app.schedule("tenant.report", cron="0 * * * *")
    with pytest.raises(rota.UnknownJobType):
        app.schedule("no.such.type", cron="0 * * * *")


def test_invalid_cron_is_rejected_at_declaration(make_app: Callable[..., rota.App]) -> None:
    app = make_app()

    @app.job("maintenance.sweep", system=True)
    async def sweep(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    with pytest.raises(rota.RotaError, match="cron"):
        app.schedule("maintenance.sweep", cron="every hour")


async def test_old_ticks_are_pruned_but_each_schedules_latest_is_kept(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    scheduler = app.schedulers()[0]
    old = datetime(2020, 1, 1, 10, 0, 20, tzinfo=UTC)
    for minute in range(3):
        assert await scheduler.run_once(now=old + timedelta(minutes=minute)) == 1
    assert await app.schedules_store().prune_ticks(older_than_seconds=86400) == 2
    rows = await (await db.execute("SELECT tick_at FROM schedule_ticks")).fetchall()
    assert [row["tick_at"] for row in rows] == [datetime(2020, 1, 1, 10, 2, tzinfo=UTC)]
    await app.close()
