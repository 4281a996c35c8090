"""Applies migrations under an advisory lock: safe concurrently and when run twice.

Each migration runs in its own transaction holding a transaction-level advisory lock keyed
by the schema, and is recorded in ``<schema>.rota_migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from rota.store.db import SyncConn
from rota.store.errors import translate
from rota.store.queries import Queries, migration_names


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied: list[str]
    current: list[str]


def latest_version() -> int:
    return _version_of(migration_names()[-1])


def migrate(conn: SyncConn, schema: str) -> MigrationReport:
    """Apply every pending migration to ``schema``; return what was applied."""
    queries = Queries(schema)
    applied: list[str] = []
    try:
        for name in migration_names():
            version = _version_of(name)
            with conn.transaction():
                _lock(conn, schema)
                if version in _applied_versions(conn, schema):
                    continue
                conn.execute(queries.migration(name))
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.rota_migrations (version, name) VALUES (%s, %s)"
                    ).format(sql.Identifier(schema)),
                    (version, name),
                )
                applied.append(name)
    except psycopg.Error as error:
        raise translate(error) from None
    return MigrationReport(applied=applied, current=migration_names())


def current_version(conn: SyncConn, schema: str) -> int:
    """The highest applied version, 0 when the schema is not migrated."""
    try:
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS present", (f"{schema}.rota_migrations",)
        ).fetchone()
        if not row or not row["present"]:
            return 0
        versions = _applied_versions(conn, schema)
    except psycopg.Error as error:
        raise translate(error) from None
    return max(versions, default=0)


def _lock(conn: SyncConn, schema: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rota.migrate.{schema}",))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.rota_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema))
    )


def _applied_versions(conn: SyncConn, schema: str) -> set[int]:
    rows = conn.execute(
        sql.SQL("SELECT version FROM {}.rota_migrations").format(sql.Identifier(schema))
    ).fetchall()
    return {int(row["version"]) for row in rows}


def _version_of(name: str) -> int:
    return int(name.split("_", 1)[0])
