"""``rota schedules list|add|pause|resume|remove``: tenants' schedules."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import click
from rich.console import Console
from rich.table import Table

from rota.cli.common import app_option, handle_errors, open_app, parse_uuid, run, to_json
from rota.core.schedule import KINDS, Recurrence


@click.group()
def schedules() -> None:
    """Tenants' schedules: list, add, pause, resume, remove."""


@schedules.command(name="list")
@click.option("--tenant", "tenant_id", help="only this tenant's schedules")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@app_option
@handle_errors
def list_schedules(tenant_id: str | None, as_json: bool, app_spec: str) -> None:
    """List schedules with their next run."""
    app = open_app(app_spec)

    async def go() -> list[dict[str, Any]]:
        try:
            return await app.list_schedules(tenant_id=tenant_id)
        finally:
            await app.close()

    rows = run(go())
    if as_json:
        click.echo(to_json(rows))
        return
    table = Table("id", "tenant", "type", "when", "zone", "paused", "next run")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["tenant_id"],
            row["type"],
            _describe(row),
            row["timezone"],
            "yes" if row["is_paused"] else "no",
            f"{row['next_run_at']:%Y-%m-%d %H:%M:%S %Z}",
        )
    Console(width=160).print(table)


def _describe(row: dict[str, Any]) -> str:
    if row["kind"] == "cron":
        return f"cron {row['cron']}"
    if row["kind"] == "weekly":
        days = ",".join(str(day) for day in row["weekdays"])
        return f"weekly {days} at {row['time_of_day']}"
    if row["kind"] == "monthly":
        return f"monthly on day {row['day_of_month']} at {row['time_of_day']}"
    return f"daily at {row['time_of_day']}"


@schedules.command()
@click.argument("job_type")
@click.option("--tenant", "tenant_id", required=True, help="the schedule's tenant")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--time", "time_of_day", help="HH:MM (daily, weekly, monthly)")
@click.option("--weekdays", help="weekly: comma-separated, 1=Monday .. 7=Sunday")
@click.option("--day", "day_of_month", type=click.IntRange(1, 31), help="monthly: 1-31")
@click.option("--cron", help="cron: 5 fields (or 6, with seconds)")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone")
@click.option("--payload", default="{}", show_default=True, help="payload as a JSON object")
@app_option
@handle_errors
def add(
    job_type: str,
    tenant_id: str,
    kind: str,
    time_of_day: str | None,
    weekdays: str | None,
    day_of_month: int | None,
    cron: str | None,
    timezone: str,
    payload: str,
    app_spec: str,
) -> None:
    """Add a schedule; prints its id and next run."""
    try:
        data = json.loads(payload)
        days = tuple(int(day) for day in weekdays.split(",")) if weekdays else ()
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--payload")
    recurrence = Recurrence(
        kind=kind,  # type: ignore[arg-type]  # checked by click.Choice
        timezone=timezone,
        time_of_day=time_of_day,
        weekdays=days,
        day_of_month=day_of_month,
        cron=cron,
    )
    app = open_app(app_spec)

    async def go() -> dict[str, Any]:
        try:
            return await app.create_schedule(
                tenant_id=tenant_id, type=job_type, payload=data, recurrence=recurrence
            )
        finally:
            await app.close()

    row = run(go())
    click.echo(f"{row['id']} next run {row['next_run_at'].isoformat()}")


def _set_paused(schedule_id: str, tenant_id: str | None, app_spec: str, paused: bool) -> None:
    uuid = parse_uuid(schedule_id)
    app = open_app(app_spec)

    async def go() -> dict[str, Any]:
        try:
            return await app.update_schedule(uuid, tenant_id=tenant_id, is_paused=paused)
        finally:
            await app.close()

    row = run(go())
    state = "paused" if paused else f"resumed, next run {row['next_run_at'].isoformat()}"
    click.echo(f"{row['id']} {state}")


@schedules.command()
@click.argument("schedule_id")
@click.option("--tenant", "tenant_id", help="act only if the schedule is this tenant's")
@app_option
@handle_errors
def pause(schedule_id: str, tenant_id: str | None, app_spec: str) -> None:
    """Pause a schedule."""
    _set_paused(schedule_id, tenant_id, app_spec, True)


@schedules.command()
@click.argument("schedule_id")
@click.option("--tenant", "tenant_id", help="act only if the schedule is this tenant's")
@app_option
@handle_errors
def resume(schedule_id: str, tenant_id: str | None, app_spec: str) -> None:
    """Resume a paused schedule from its next tick after now."""
    _set_paused(schedule_id, tenant_id, app_spec, False)


@schedules.command()
@click.argument("schedule_id")
@click.option("--tenant", "tenant_id", help="act only if the schedule is this tenant's")
@app_option
@handle_errors
def remove(schedule_id: str, tenant_id: str | None, app_spec: str) -> None:
    """Remove a schedule (jobs it already enqueued are kept)."""
    uuid: UUID = parse_uuid(schedule_id)
    app = open_app(app_spec)

    async def go() -> None:
        try:
            await app.delete_schedule(uuid, tenant_id=tenant_id)
        finally:
            await app.close()

    run(go())
    click.echo(f"{uuid} removed")
