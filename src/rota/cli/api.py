"""``rota api``: the HTTP API on uvicorn."""

from __future__ import annotations

import click
import uvicorn

from rota.api.app import create_api
from rota.cli.common import app_option, handle_errors, open_app


@click.command()
@app_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@handle_errors
def api(app_spec: str, host: str, port: int) -> None:
    """Serve the HTTP API (/v1, /openapi.json, /healthz, /readyz)."""
    app = open_app(app_spec)
    app.migrate()
    uvicorn.run(create_api(app), host=host, port=port, log_config=None, access_log=False)
