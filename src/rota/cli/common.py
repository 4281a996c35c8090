"""What every command shares: loading the app, running coroutines, one-line errors."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

import click

from rota.app import App, load_app
from rota.core import loops
from rota.errors import RotaError
from rota.observability.logging import configure_logging

DEFAULT_APP = "rota.demo.app:app"
T = TypeVar("T")

app_option = click.option(
    "--app",
    "app_spec",
    envvar="ROTA_APP",
    default=DEFAULT_APP,
    show_default=True,
    help="the rota.App to use, as module:attribute",
)


def open_app(app_spec: str) -> App:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `--app myproject.jobs:app` from the project root
    app = load_app(app_spec)
    configure_logging(app.settings.log_level, app.settings.log_format)
    return app


def run(coroutine: Coroutine[Any, Any, T], app: App | None = None) -> T:
    """Run a command's coroutine on the app's event loop choice (uvloop when installed)."""
    choice = app.settings.event_loop if app is not None else "auto"
    return loops.run(coroutine, cast(loops.EventLoopChoice, choice))


def fail(message: str, code: int = 1) -> None:
    click.echo(f"rota: error: {message}", err=True)
    sys.exit(code)


def handle_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn rota's errors into one stderr line and exit 1 (usage errors stay exit 2)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RotaError as error:
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted")
        except OSError as error:
            fail(f"{type(error).__name__}: {error}")

    return wrapper


def parse_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a job id (a UUID)") from None


def parse_when(value: str | None) -> datetime | timedelta | None:
    """``30s``, ``5m``, ``2h``, ``1d`` (from now) or an ISO 8601 time with a zone."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return timedelta(seconds=float(value[:-1]) * units[value[-1]])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use a delay like 30s, 5m, 2h, 1d or an ISO time like "
            "2030-01-01T09:00:00+00:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def to_json(data: Any) -> str:
    return json.dumps(data, default=str, indent=2, ensure_ascii=False)
