"""``rota tenants``: per-tenant depth, running jobs and oldest wait; weights and caps."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rota.cli.common import app_option, handle_errors, open_app, run, to_json


@click.group(invoke_without_command=True)
@click.option("--tenant", "tenant_id", help="only this tenant")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@app_option
@click.pass_context
@handle_errors
def tenants(
    ctx: click.Context, tenant_id: str | None, limit: int, as_json: bool, app_spec: str
) -> None:
    """Tenants with queued or running jobs, busiest first."""
    if ctx.invoked_subcommand is not None:
        return
    app = open_app(app_spec)

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            return (
                await app.tenant_stats(tenant_id=tenant_id, limit=limit),
                await app.claims_store().list_tenant_limits(),
            )
        finally:
            await app.close()

    stats, limits = run(go())
    own = {row["tenant_id"]: row for row in limits}
    if as_json:
        click.echo(to_json([{**row, **own.get(row["tenant_id"], {})} for row in stats]))
        return
    table = Table("tenant", "queued", "running", "oldest wait (s)", "weight", "max running")
    for row in stats:
        limit_row = own.get(row["tenant_id"], {})
        table.add_row(
            row["tenant_id"] or "(system)",
            str(row["queued"]),
            str(row["running"]),
            f"{row['oldest_queued_seconds']:.1f}",
            str(limit_row.get("weight", app.settings.tenant_default_weight)),
            _cap(limit_row.get("max_running"), app.settings.tenant_max_running),
        )
    Console(width=120).print(table)


@tenants.command(name="set")
@click.argument("tenant_id")
@click.option("--weight", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--max-running", type=click.IntRange(0, 1_000_000), help="cap on running jobs")
@app_option
@handle_errors
def set_limits(tenant_id: str, weight: int, max_running: int | None, app_spec: str) -> None:
    """Set a tenant's weight (share while backlogged) and cap on running jobs."""
    app = open_app(app_spec)
    app.migrate()

    async def go() -> dict[str, Any]:
        try:
            return await app.set_tenant_limits(tenant_id, weight=weight, max_running=max_running)
        finally:
            await app.close()

    row = run(go())
    cap = row["max_running"] if row["max_running"] is not None else "default"
    click.echo(f"{row['tenant_id']}: weight {row['weight']}, max running {cap}")


def _cap(own: int | None, default: int | None) -> str:
    """A tenant's own cap, else the default, else '-' (0 is a cap: nothing may run)."""
    if own is not None:
        return str(own)
    return str(default) if default is not None else "-"
