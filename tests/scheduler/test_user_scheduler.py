"""Tenants' schedules: due ticks become tenant jobs once; pause and resume."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel

import rota
from rota.core.schedule import InvalidSchedule, Recurrence

Conn = psycopg.AsyncConnection[Any]


class Digest(BaseModel):
    channel: str


def build(make_app: Callable[..., rota.App]) -> rota.App:
    app = make_app()

    @app.job("digest.send")
    async def send(ctx: rota.JobContext, payload: Digest) -> None:
        return None

    @app.job("maintenance.sweep", system=True)
    async def sweep(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def make_due(db: Conn, schedule_id: object) -> None:
    await db.execute(
        "UPDATE scheduled_jobs SET next_run_at = now() - interval '1 minute' WHERE id = %s",
        (schedule_id,),
    )


async def test_a_due_tick_enqueues_one_tenant_job(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    schedule = await app.create_schedule(
        tenant_id="acme",
        type="digest.send",
        payload={"channel": "email"},
        recurrence=Recurrence("daily", "Europe/Berlin", "07:30"),
    )
    assert schedule["next_run_at"] > (await app.schedules_store().database_now())
    await make_due(db, schedule["id"])
    _, user = app.schedulers()
    assert await user.run_once() == 1
    assert await user.run_once() == 0  # advanced: the same tick never fires twice

    job = await (await db.execute("SELECT * FROM jobs")).fetchone()
    assert job is not None
    assert job["tenant_id"] == "acme"
    assert job["correlation_id"] == str(schedule["id"])
    assert job["idempotency_key"].startswith(f"schedule:{schedule['id']}:")
    after = await app.get_schedule(schedule["id"])
    assert after["last_job_id"] == job["id"]
    assert after["next_run_at"] > after["last_run_at"]
    local = after["next_run_at"].astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (7, 30)
    await app.close()


async def test_paused_schedules_do_not_fire_and_resume_in_the_future(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    schedule = await app.create_schedule(
        tenant_id="acme",
        type="digest.send",
        payload={"channel": "sms"},
        recurrence=Recurrence("cron", cron="*/5 * * * *"),
    )
    await app.update_schedule(schedule["id"], tenant_id="acme", is_paused=True)
    await make_due(db, schedule["id"])
    _, user = app.schedulers()
    assert await user.run_once() == 0
    resumed = await app.update_schedule(schedule["id"], tenant_id="acme", is_paused=False)
    now = await app.schedules_store().database_now()
    assert now < resumed["next_run_at"] <= now + timedelta(minutes=5)
    assert await user.run_once() == 0
    await app.close()


async def test_schedules_are_tenant_scoped(make_app: Callable[..., rota.App]) -> None:
    app = build(make_app)
    schedule = await app.create_schedule(
        tenant_id="acme",
        type="digest.send",
        payload={"channel": "email"},
        recurrence=Recurrence("daily", "UTC", "07:30"),
    )
    with pytest.raises(rota.NotFound):
        await app.get_schedule(schedule["id"], tenant_id="globex")
    with pytest.raises(rota.NotFound):
        await app.update_schedule(schedule["id"], tenant_id="globex", is_paused=True)
    with pytest.raises(rota.NotFound):
        await app.delete_schedule(schedule["id"], tenant_id="globex")
    assert not (await app.get_schedule(schedule["id"]))["is_paused"]
    assert await app.list_schedules(tenant_id="globex") == []
    await app.delete_schedule(schedule["id"], tenant_id="acme")
    assert await app.list_schedules() == []
    await app.close()


@pytest.mark.parametrize(
    ("type", "payload", "error"),
    [
        ("no.such", {}, rota.UnknownJobType),
        ("digest.send", {"nope": 1}, rota.InvalidPayload),
        ("maintenance.sweep", {}, rota.TenantRequired),
    ],
)
async def test_invalid_schedules_write_nothing(
    make_app: Callable[..., rota.App],
    db: Conn,
    type: str,
    payload: dict[str, Any],
    error: type[Exception],
) -> None:
    app = build(make_app)
    with pytest.raises(error):
        await app.create_schedule(
            tenant_id="acme",
            type=type,
            payload=payload,
            recurrence=Recurrence("daily", "UTC", "07:30"),
        )
    with pytest.raises(InvalidSchedule):
        Recurrence("daily", "Nowhere/Land", "07:30")
    count = await (await db.execute("SELECT count(*) AS n FROM scheduled_jobs")).fetchone()
    assert count is not None
    assert count["n"] == 0
    await app.close()


async def test_drain_enqueues_due_ticks_before_draining(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    schedule = await app.create_schedule(
        tenant_id="acme",
        type="digest.send",
        payload={"channel": "email"},
        recurrence=Recurrence("daily", "UTC", "07:30"),
    )
    await make_due(db, schedule["id"])
    assert await app.worker().drain() == 1
    job = await (await db.execute("SELECT status, tenant_id FROM jobs")).fetchone()
    assert job is not None
    assert (job["status"], job["tenant_id"]) == ("succeeded", "acme")
    await app.close()
