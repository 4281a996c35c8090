"""``rota token create|revoke|list``: API tokens (only a hash is stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rota.cli.common import app_option, handle_errors, open_app, parse_when, run, to_json
from rota.core.auth import Scope

SCOPES = [scope.value for scope in Scope]


@click.group()
def token() -> None:
    """API tokens: create (printed once), revoke, list."""


@token.command()
@click.option("--tenant", "tenant_id", required=True, help="tenant id, or * for an operator")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES))
@click.option("--expires", help="lifetime (30s, 12h, 90d) or ISO time with zone")
@click.option("--name", help="a label to recognise the token by")
@app_option
@handle_errors
def create(
    tenant_id: str, scopes: tuple[str, ...], expires: str | None, name: str | None, app_spec: str
) -> None:
    """Create a token and print it; it cannot be shown again."""
    when = parse_when(expires)
    expires_at = datetime.now(UTC) + when if isinstance(when, timedelta) else when
    app = open_app(app_spec)
    app.migrate()

    async def go() -> tuple[str, dict[str, Any]]:
        try:
            return await app.create_token(
                tenant_id=tenant_id, scopes=list(scopes), name=name, expires_at=expires_at
            )
        finally:
            await app.close()

    text, _ = run(go())
    click.echo(text)


@token.command()
@click.argument("token_id")
@app_option
@handle_errors
def revoke(token_id: str, app_spec: str) -> None:
    """Revoke a token by its id (the part after ``rota_``) or its full text."""
    parts = token_id.split("_")
    key = parts[1] if len(parts) >= 3 and parts[0] == "rota" else token_id
    app = open_app(app_spec)

    async def go() -> None:
        try:
            await app.revoke_token(key)
        finally:
            await app.close()

    run(go())
    click.echo(f"revoked {key}")


@token.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@app_option
@handle_errors
def list_tokens(as_json: bool, app_spec: str) -> None:
    """List tokens (never their secrets)."""
    app = open_app(app_spec)

    async def go() -> list[dict[str, Any]]:
        try:
            return await app.list_tokens()
        finally:
            await app.close()

    rows = run(go())
    if as_json:
        click.echo(to_json(rows))
        return
    table = Table("id", "tenant", "scopes", "name", "expires", "revoked")
    for row in rows:
        table.add_row(
            row["id"],
            row["tenant_id"],
            " ".join(row["scopes"]),
            row["name"] or "",
            str(row["expires_at"] or ""),
            str(row["revoked_at"] or ""),
        )
    Console(width=140).print(table)
