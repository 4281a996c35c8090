"""The ``rota`` command group."""

from __future__ import annotations

import sys

import click

from rota.cli.api import api
from rota.cli.bench import bench
from rota.cli.dev import dev
from rota.cli.jobs import cancel, enqueue, list_jobs, retry, status
from rota.cli.schedules import schedules
from rota.cli.tenants import tenants
from rota.cli.tokens import token
from rota.cli.worker import drain, migrate, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rota")
def cli() -> None:
    """rota: durable, tenant-aware background jobs on PostgreSQL."""


for command in (
    dev,
    migrate,
    worker,
    drain,
    api,
    enqueue,
    status,
    list_jobs,
    retry,
    cancel,
    schedules,
    tenants,
    token,
    bench,
):
    cli.add_command(command)


def main() -> None:
    """Run the CLI: usage errors are one line on stderr and exit 2."""
    try:
        cli.main(prog_name="rota", standalone_mode=False)
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx else "rota"
        click.echo(f"rota: error: {error.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("rota: error: aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
