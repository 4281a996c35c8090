"""Loads ``sql/*.sql`` once and fills in the schema name.

The ``{schema}`` marker is the only substitution, made with ``psycopg.sql.Identifier``; every
value is a bound parameter. A literal brace in a statement is written twice.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import LiteralString

from psycopg import sql

_SQL_PACKAGE = "rota.store.sql"
_MIGRATIONS_PACKAGE = "rota.store.migrations"


@cache
def _raw(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def statement_names() -> list[str]:
    """Names (without ``.sql``) of every statement file."""
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in resources.files(_SQL_PACKAGE).iterdir()
        if entry.name.endswith(".sql")
    )


def migration_names() -> list[str]:
    return sorted(
        entry.name
        for entry in resources.files(_MIGRATIONS_PACKAGE).iterdir()
        if entry.name.endswith(".sql")
    )


@cache
def render(template: str, schema: str) -> str:
    """The statement as plain text: psycopg caches the parsing of text queries, where a
    ``Composed`` would be re-split on every execution."""
    return sql.SQL(template).format(schema=sql.Identifier(schema)).as_string(None)


class Queries:
    """The statements of one schema, rendered on first use and cached."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def __getattr__(self, name: str) -> LiteralString:
        if name.startswith("_"):
            raise AttributeError(name)
        # Text made only from rota's own files and a quoted identifier: safe as a query.
        return render(_raw(_SQL_PACKAGE, f"{name}.sql"), self.schema)

    def migration(self, file_name: str) -> LiteralString:
        return render(_raw(_MIGRATIONS_PACKAGE, file_name), self.schema)
