"""Migrations: fresh, twice, and four at once on a brand-new schema."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

import rota
from rota.store.migrate import MigrationReport, current_version, latest_version
from rota.store.queries import migration_names

TABLES = {"jobs", "job_events", "job_runs", "workers", "rota_migrations"}


@pytest.fixture
def fresh_schema(postgres_url: str) -> Iterator[str]:
    """The name of a schema that does not exist yet; dropped afterwards if it was created."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def conn(postgres_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(postgres_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


def tables_of(conn: psycopg.Connection[dict[str, Any]], schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()
    return {row["table_name"] for row in rows}


def recorded_versions(conn: psycopg.Connection[dict[str, Any]], schema: str) -> list[int]:
    rows = conn.execute(
        sql.SQL("SELECT version FROM {}.rota_migrations ORDER BY version").format(
            sql.Identifier(schema)
        )
    ).fetchall()
    return [row["version"] for row in rows]


def all_versions() -> list[int]:
    return [int(name.split("_", 1)[0]) for name in migration_names()]


def test_migrating_a_fresh_schema_creates_the_tables(
    postgres_url: str, fresh_schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    assert tables_of(conn, fresh_schema) == set()

    report = rota.App(postgres_url, schema_name=fresh_schema).migrate()

    assert report.applied == migration_names()
    assert tables_of(conn, fresh_schema) >= TABLES
    assert recorded_versions(conn, fresh_schema) == all_versions()


def test_migrating_twice_applies_nothing_the_second_time(
    postgres_url: str, fresh_schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    app = rota.App(postgres_url, schema_name=fresh_schema)
    first = app.migrate()
    second = app.migrate()

    assert first.applied == migration_names()
    assert second.applied == []
    assert second.current == migration_names()
    assert recorded_versions(conn, fresh_schema) == all_versions()


def test_concurrent_migrations_of_a_new_schema_all_succeed_and_apply_once(
    postgres_url: str, fresh_schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    threads_count = 4
    barrier = threading.Barrier(threads_count, timeout=30)
    reports: list[MigrationReport] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def migrate_in_thread() -> None:
        app = rota.App(postgres_url, schema_name=fresh_schema)
        try:
            barrier.wait()
            report = app.migrate()
        except BaseException as error:
            with lock:
                errors.append(error)
            return
        with lock:
            reports.append(report)

    threads = [threading.Thread(target=migrate_in_thread) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert errors == []
    assert len(reports) == threads_count
    applied = sorted(name for report in reports for name in report.applied)
    assert applied == migration_names()
    assert recorded_versions(conn, fresh_schema) == all_versions()
    assert tables_of(conn, fresh_schema) >= TABLES


def test_current_version_is_zero_before_and_latest_after_migrating(
    postgres_url: str, fresh_schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    assert current_version(conn, fresh_schema) == 0

    rota.App(postgres_url, schema_name=fresh_schema).migrate()

    assert current_version(conn, fresh_schema) == latest_version()
    assert latest_version() == max(all_versions())


def test_current_version_of_the_test_schema_is_the_latest(
    schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    assert current_version(conn, schema) == latest_version()


def test_migrated_schema_accepts_a_job(
    make_app: Callable[..., rota.App], conn: psycopg.Connection[dict[str, Any]], schema: str
) -> None:
    """The tables made by the migrations are the ones enqueue writes to."""
    app = make_app()

    @app.job("test.migrated")
    def handler(ctx: rota.JobContext, payload: dict[str, Any]) -> None: ...

    job = app.enqueue_sync("test.migrated", {}, tenant_id="acme")
    row = conn.execute(
        sql.SQL("SELECT status, tenant_id FROM {}.jobs WHERE id = %s").format(
            sql.Identifier(schema)
        ),
        (job.id,),
    ).fetchone()
    assert row == {"status": "queued", "tenant_id": "acme"}
