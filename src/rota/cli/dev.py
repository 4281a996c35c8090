"""``rota dev``: embedded PostgreSQL, migrations, a worker and the demo, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click
import uvicorn
from rich.console import Console
from rich.live import Live
from rich.table import Table

from rota.api.app import create_api
from rota.app import App
from rota.cli.common import app_option, handle_errors, open_app, run
from rota.core.job import JobStatus
from rota.core.loops import stop_tasks
from rota.errors import ConfigError

_FEED_SECONDS = 10.0


@click.command()
@app_option
@click.option("--concurrency", type=click.IntRange(1, 1000), help="jobs at once")
@click.option("--no-samples", is_flag=True, help="do not enqueue the demo's sample jobs")
@click.option("--host", default="127.0.0.1", show_default=True, help="API address")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@handle_errors
def dev(app_spec: str, concurrency: int | None, no_samples: bool, host: str, port: int) -> None:
    """The one-command demo: database, migrations, API, worker and sample jobs."""
    app = open_app(app_spec)
    console = Console(stderr=False)
    console.print(f"[bold]rota dev[/] starting (schema {app.settings.schema_name})")
    url = app.database_url()
    console.print(f"database: {url}")
    report = app.migrate()
    console.print(f"migrations: {', '.join(report.applied) or 'up to date'}")
    from rota.demo import app as demo  # not at import: its App() reads ROTA_* variables

    feed = not no_samples and app is demo.app
    try:
        run(_serve(app, console, concurrency, feed, host, port), app)
    finally:
        app.stop_local_database()
    console.print("rota dev stopped")


async def _serve(
    app: App, console: Console, concurrency: int | None, feed: bool, host: str, port: int
) -> None:
    worker = app.worker(concurrency=concurrency)
    worker_task = asyncio.create_task(worker.run())
    server = _ApiServer(
        uvicorn.Config(create_api(app), host=host, port=port, log_config=None, access_log=False)
    )
    helpers: list[asyncio.Task[Any]] = [asyncio.create_task(server.serve())]
    try:
        await _started(worker, worker_task)
        await _print_api(app, console, server)
        console.print(
            f"worker {worker.id} on queues {', '.join(worker.queues)}; "
            "try `rota enqueue demo.ping --tenant acme` in another terminal; Ctrl-C stops",
            soft_wrap=True,
        )
        if feed:
            helpers.append(asyncio.create_task(_feed(app, console)))
        helpers.append(asyncio.create_task(_show(app, console)))
        await worker_task
    finally:
        server.should_exit = True
        await stop_tasks(*helpers[1:])
        await asyncio.gather(helpers[0], return_exceptions=True)  # the server, told to exit
        if not worker_task.done():
            worker.stop()
            await asyncio.gather(worker_task, return_exceptions=True)
        await app.close()


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the worker's handle SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _print_api(app: App, console: Console, server: _ApiServer) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
        if server.should_exit:
            raise ConfigError("the API server could not start (is the port in use?)")
    from rota.demo.app import TENANTS

    host, port = server.servers[0].sockets[0].getsockname()[:2]
    operator, _ = await app.create_token(tenant_id="*", scopes=["admin"], name="rota dev")
    tenant, _ = await app.create_token(
        tenant_id=TENANTS[0], scopes=["jobs:read", "jobs:write"], name="rota dev"
    )
    console.print(f"API: http://{host}:{port}/v1  (OpenAPI: http://{host}:{port}/docs)")
    console.print(f"operator token (all tenants, admin): {operator}", soft_wrap=True)
    console.print(f"tenant token ({TENANTS[0]}, jobs:read jobs:write): {tenant}", soft_wrap=True)
    console.print(
        f'try: curl -H "Authorization: Bearer {tenant}" '
        f"http://{host}:{port}/v1/tenants/{TENANTS[0]}/jobs",
        soft_wrap=True,
    )


async def _started(worker: Any, worker_task: asyncio.Task[None]) -> None:
    waiter = asyncio.create_task(worker.started.wait())
    await asyncio.wait([waiter, worker_task], return_when=asyncio.FIRST_COMPLETED)
    if worker_task.done():
        waiter.cancel()
        worker_task.result()


async def _feed(app: App, console: Console) -> None:
    from rota.demo.app import enqueue_samples

    round_number = 0
    while True:
        count = await enqueue_samples(app, round_number)
        console.print(f"enqueued {count} sample jobs (round {round_number})")
        round_number += 1
        await asyncio.sleep(_FEED_SECONDS)


async def _show(app: App, console: Console) -> None:
    """A live table of jobs by queue and status (plain lines when not on a terminal)."""
    if sys.stdout.isatty():
        with Live(_table([]), console=console, refresh_per_second=4) as live:
            while True:
                live.update(_table(await app.count_jobs()))
                await asyncio.sleep(1)
    last = ""
    while True:
        totals = {status.value: 0 for status in JobStatus}
        for row in await app.count_jobs():
            totals[row["status"]] += row["jobs"]
        line = " ".join(f"{name}={count}" for name, count in totals.items())
        if line != last:
            console.print(f"jobs: {line}")
            last = line
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.sleep(1)


def _table(rows: list[dict[str, Any]]) -> Table:
    statuses = [status.value for status in JobStatus]
    table = Table("queue", *statuses, title="rota jobs by status")
    queues: dict[str, dict[str, int]] = {}
    for row in rows:
        queues.setdefault(row["queue"], {})[row["status"]] = row["jobs"]
    for queue, counts in sorted(queues.items()):
        table.add_row(queue, *(str(counts.get(status, 0)) for status in statuses))
    return table
