"""``rota bench``: W1/W2/W3 against the configured database, and ``rota bench soak``."""

from __future__ import annotations

import uuid
from typing import Any

import click
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rota.bench.soak import soak as run_soak
from rota.bench.workloads import BenchConfig, w1, w2, w3
from rota.cli.common import app_option, handle_errors, open_app, run


@click.group(invoke_without_command=True)
@click.option("--jobs", type=click.IntRange(100, 10_000_000), default=20_000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True)
@app_option
@click.pass_context
@handle_errors
def bench(ctx: click.Context, jobs: int, concurrency: int, processes: int, app_spec: str) -> None:
    """W1 enqueue (single, batch of 1,000), W2 drain, W3 latency, in a throwaway schema of
    the configured database (embedded by default); prints a table."""
    if ctx.invoked_subcommand is not None:
        return
    url = open_app(app_spec).database_url()
    schema = f"rota_bench_{uuid.uuid4().hex[:8]}"
    config = BenchConfig(dsn=url, schema=schema, concurrency=concurrency)
    console = Console()
    steps: list[tuple[str, Any]] = [
        (f"W1 single ({jobs:,} enqueue calls)", lambda: w1(config, jobs, 1)),
        (f"W1 batch ({jobs // 1000 or 1} calls of 1,000)", lambda: w1(config, jobs, 1000)),
        (f"W2 drain ({jobs:,} jobs, {processes} process(es))", lambda: w2(config, jobs, processes)),
        ("W3 latency (300 jobs, every 20 ms)", lambda: w3(config, 300, 20)),
    ]
    results: list[tuple[str, dict[str, Any]]] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for label, step in steps:
            task = progress.add_task(label, total=1)
            _drop(url, schema)
            results.append((label, run(step())))
            progress.update(task, completed=1)
    _drop(url, schema)
    table = Table(
        "workload",
        "jobs/s",
        "p50 ms",
        "p99 ms",
        "worker us",
        "db us",
        title="rota bench",
        caption="worker us, db us: CPU time per job of the worker processes and of the "
        "database sessions serving them (W2; db when the server runs on this machine)",
    )
    for label, figures in results:
        rate = figures.get("jobs_per_s")
        table.add_row(
            label,
            f"{rate:,.0f}" if rate else "",
            *(
                f"{figures[key]:,.{digits}f}" if figures.get(key) is not None else ""
                for key, digits in (
                    ("p50_ms", 2),
                    ("p99_ms", 2),
                    ("worker_cpu_us_per_job", 0),
                    ("db_cpu_us_per_job", 0),
                )
            ),
        )
    console.print(table)


@bench.command()
@click.option("--minutes", type=click.FloatRange(0.1, 24 * 60), default=10, show_default=True)
@click.option("--rate", type=click.FloatRange(1, 10_000), default=50, show_default=True)
@click.option("--workers", type=click.IntRange(1, 32), default=2, show_default=True)
@click.option("--kill-every", type=click.FloatRange(1, 3600), default=20, show_default=True)
@app_option
@handle_errors
def soak(minutes: float, rate: float, workers: int, kill_every: float, app_spec: str) -> None:
    """Enqueue steadily while worker processes are killed at random; account for every job."""
    url = open_app(app_spec).database_url()
    schema = f"rota_soak_{uuid.uuid4().hex[:8]}"
    report = run(
        run_soak(
            url,
            minutes=minutes,
            rate=rate,
            workers=workers,
            kill_every_seconds=kill_every,
            schema=schema,
            progress=click.echo,
        )
    )
    click.echo(f"enqueued: {report.enqueued}  kills: {report.kills}")
    click.echo(f"finished by outcome: {report.by_status}")
    click.echo(f"lost: {report.lost} (must be 0)")
    click.echo(
        f"duplicated effects: {report.duplicated_effects} (must be 0); "
        f"succeeded without effect: {report.missing_effects} (must be 0); "
        f"re-executions (allowed, at-least-once): {report.reexecutions}"
    )
    click.echo(f"max queue latency: {report.max_queue_latency_s:.2f} s")
    for name in sorted(report.sizes_after):
        before = report.sizes_before.get(name, 0) / 1024
        click.echo(f"size {name}: {before:.0f} KiB -> {report.sizes_after[name] / 1024:.0f} KiB")
    samples = ", ".join(f"{t:.0f}s {kib / 1024:.0f} MiB" for t, kib in report.rss_samples)
    click.echo(f"worker RSS over time: {samples}")
    _drop(url, schema)


def _drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
