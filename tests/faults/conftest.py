"""Fixtures of the fault-injection suite; the harness itself is in harness.py."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import rota
from tests.faults.harness import Conn, Fleet, PrivateDatabase, connect, start_private_server
from tests.support import apps


@pytest.fixture
def make_fleet(tmp_path: Path) -> Iterator[Callable[[str, str], Fleet]]:
    """``make_fleet(url, schema)``: a Fleet; every process is killed at the end."""
    fleets: list[Fleet] = []

    def factory(url: str, schema: str) -> Fleet:
        apps.setup_tables(url, schema)
        logs = tmp_path / f"fleet-{len(fleets)}"
        logs.mkdir()
        fleets.append(Fleet(url, schema, logs))
        return fleets[-1]

    yield factory
    for fleet in fleets:
        fleet.close()


@pytest.fixture
def fleet(make_fleet: Callable[[str, str], Fleet], postgres_url: str, schema: str) -> Fleet:
    """A Fleet on the shared server and the test's schema."""
    return make_fleet(postgres_url, schema)


@pytest.fixture
def private_db() -> Iterator[PrivateDatabase]:
    """A fresh PostgreSQL server for this test only (never the shared one), stopped after."""
    server, base = start_private_server()
    try:
        schema = f"f_{uuid.uuid4().hex[:12]}"
        rota.App(server.url, schema_name=schema).migrate()
        apps.setup_tables(server.url, schema)
        yield PrivateDatabase(server, schema)
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def private_conn(private_db: PrivateDatabase) -> AsyncIterator[Conn]:
    """A plain connection on the private server's schema (tuple rows)."""
    connection = await connect(private_db.url, private_db.schema)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def conn(postgres_url: str, schema: str) -> AsyncIterator[Conn]:
    """A plain connection on the test's schema of the shared server (tuple rows)."""
    connection = await connect(postgres_url, schema)
    try:
        yield connection
    finally:
        await connection.close()
