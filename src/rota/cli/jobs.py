"""``rota enqueue``, ``status``, ``jobs``, ``retry``, ``cancel``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rota.cli.common import (
    app_option,
    handle_errors,
    open_app,
    parse_uuid,
    parse_when,
    run,
    to_json,
)
from rota.core.job import Job, JobStatus

STATUSES = [status.value for status in JobStatus]


@click.command()
@click.argument("job_type")
@click.option("--tenant", "tenant_id", help="tenant of the job (required for user jobs)")
@click.option("--payload", default="{}", show_default=True, help="payload as a JSON object")
@click.option("--idempotency-key", help="same key, same job: never a second one")
@click.option("--run-after", help="delay (30s, 5m, 2h) or ISO time with zone")
@click.option("--priority", type=int, help="lower runs first")
@click.option("--actor", "actor_id", help="who caused the job")
@app_option
@handle_errors
def enqueue(
    job_type: str,
    tenant_id: str | None,
    payload: str,
    idempotency_key: str | None,
    run_after: str | None,
    priority: int | None,
    actor_id: str | None,
    app_spec: str,
) -> None:
    """Enqueue a job and print its id."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--payload") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--payload")
    when = parse_when(run_after)
    app = open_app(app_spec)

    async def go() -> Any:
        try:
            return await app.enqueue(
                job_type,
                data,
                tenant_id=tenant_id,
                idempotency_key=idempotency_key,
                run_after=when,
                priority=priority,
                actor_id=actor_id,
            )
        finally:
            await app.close()

    job = run(go())
    click.echo(str(job.id))


@click.command()
@click.argument("job_id", required=False)
@click.option("--tenant", "tenant_id", help="only this tenant's jobs")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@app_option
@handle_errors
def status(job_id: str | None, tenant_id: str | None, as_json: bool, app_spec: str) -> None:
    """Show one job (with its events), or job counts by queue and status."""
    app = open_app(app_spec)

    async def go() -> Any:
        try:
            if job_id is None:
                return await app.count_jobs(tenant_id=tenant_id)
            uuid = parse_uuid(job_id)
            job = await app.get_job(uuid, tenant_id=tenant_id)
            events = await app.job_events(uuid, tenant_id=tenant_id)
            return job, events
        finally:
            await app.close()

    found = run(go())
    if job_id is None:
        _print_counts(found, as_json)
        return
    job, events = found
    document = dataclasses.asdict(job)
    if as_json:
        click.echo(to_json({**document, "events": events}))
        return
    for key, value in document.items():
        if value is not None:
            click.echo(f"{key:>16}: {value}")
    for event in events:
        change = (
            f"{event['from_status']} -> {event['to_status']}"
            if event["kind"] == "transition"
            else event["kind"]
        )
        extra = " ".join(
            str(event[k]) for k in ("error_code", "progress", "message") if event[k] is not None
        )
        click.echo(f"{event['at']:%Y-%m-%d %H:%M:%S.%f}  #{event['attempt']}  {change}  {extra}")


def _print_counts(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(to_json(rows))
        return
    table = Table("queue", "status", "jobs")
    for row in rows:
        table.add_row(row["queue"], row["status"], str(row["jobs"]))
    Console().print(table)


@click.command(name="jobs")
@click.option("--status", "status_filter", type=click.Choice(STATUSES))
@click.option("--type", "type_filter", help="job type")
@click.option("--tenant", "tenant_id", help="only this tenant's jobs")
@click.option("--queue", help="only this queue")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@app_option
@handle_errors
def list_jobs(
    status_filter: str | None,
    type_filter: str | None,
    tenant_id: str | None,
    queue: str | None,
    limit: int,
    as_json: bool,
    app_spec: str,
) -> None:
    """List jobs, newest first."""
    app = open_app(app_spec)

    async def go() -> list[Job]:
        try:
            return await app.list_jobs(
                tenant_id=tenant_id,
                status=status_filter,
                type=type_filter,
                queue=queue,
                limit=limit,
            )
        finally:
            await app.close()

    jobs = run(go())
    if as_json:
        for job in jobs:
            click.echo(json.dumps(dataclasses.asdict(job), default=str))
        return
    table = Table("id", "type", "tenant", "status", "attempt", "created")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.type,
            job.tenant_id or "-",
            job.status.value,
            f"{job.attempt}/{job.max_attempts}",
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
        )
    Console(width=140).print(table)


@click.command()
@click.argument("job_id")
@click.option("--tenant", "tenant_id", help="act only if the job belongs to this tenant")
@app_option
@handle_errors
def retry(job_id: str, tenant_id: str | None, app_spec: str) -> None:
    """Queue a failed, poisoned or cancelled job again with a fresh attempt budget."""
    uuid = parse_uuid(job_id)
    app = open_app(app_spec)

    async def go() -> JobStatus:
        try:
            return await app.retry(uuid, tenant_id=tenant_id)
        finally:
            await app.close()

    click.echo(run(go()).value)


@click.command()
@click.argument("job_id")
@click.option("--tenant", "tenant_id", help="act only if the job belongs to this tenant")
@app_option
@handle_errors
def cancel(job_id: str, tenant_id: str | None, app_spec: str) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    uuid = parse_uuid(job_id)
    app = open_app(app_spec)

    async def go() -> JobStatus:
        try:
            return await app.cancel(uuid, tenant_id=tenant_id)
        finally:
            await app.close()

    new_status = run(go())
    click.echo("cancelled" if new_status is JobStatus.CANCELLED else "cancel requested")
