"""``rota migrate``, ``worker`` and ``drain``."""

from __future__ import annotations

import logging
import os
import sys

import click

from rota.cli.common import app_option, handle_errors, open_app, run
from rota.worker.heap import settle_worker_heap
from rota.worker.processes import Supervisor

log = logging.getLogger("rota.cli")


@click.command()
@app_option
@handle_errors
def migrate(app_spec: str) -> None:
    """Apply schema migrations (safe to run concurrently and repeatedly)."""
    app = open_app(app_spec)
    report = app.migrate()
    if report.applied:
        click.echo(f"applied {', '.join(report.applied)} to schema {app.settings.schema_name}")
    else:
        click.echo(f"schema {app.settings.schema_name} is up to date")


@click.command()
@app_option
@click.option("--queues", help="comma-separated queues (default: every queue of the app)")
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="jobs at once per process")
@click.option("--processes", type=click.IntRange(1, 256), default=1, show_default=True)
@handle_errors
def worker(app_spec: str, queues: str | None, concurrency: int | None, processes: int) -> None:
    """Run workers until SIGTERM/SIGINT, then shut down gracefully."""
    if processes > 1:
        child = ["worker", "--app", app_spec]
        if queues:
            child += ["--queues", queues]
        if concurrency:
            child += ["--concurrency", str(concurrency)]
        open_app(app_spec).migrate()
        sys.exit(Supervisor(child, processes).run())
    app = open_app(app_spec)
    app.migrate()
    queue_list = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    settle_worker_heap()  # this process is the worker's: see rota/worker/heap.py

    async def go() -> None:
        try:
            await app.worker(queues=queue_list, concurrency=concurrency).run()
        finally:
            await app.close()

    run(go(), app)
    _exit_now(0)


@click.command()
@app_option
@click.option("--queues", help="comma-separated queues (default: every queue of the app)")
@click.option("--concurrency", type=click.IntRange(1, 10_000), help="jobs at once")
@handle_errors
def drain(app_spec: str, queues: str | None, concurrency: int | None) -> None:
    """Run every due job, then exit (for cron-triggered or serverless runs)."""
    app = open_app(app_spec)
    app.migrate()
    queue_list = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    settle_worker_heap()

    async def go() -> int:
        try:
            return await app.worker(queues=queue_list, concurrency=concurrency).drain()
        finally:
            await app.close()

    count = run(go(), app)
    click.echo(f"ran {count} job{'' if count == 1 else 's'}")
    _exit_now(0)


def _exit_now(code: int) -> None:
    """Exit without joining handler threads: a synchronous handler that ignored its timeout
    must not keep a stopped worker alive. Everything was recorded or released already."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
