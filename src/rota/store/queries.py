"""Loads ``sql/*.sql`` once and fills in the schema name.

The ``{schema}`` marker is the only substitution, made with ``psycopg.sql.Identifier``; every
value is a bound parameter. A literal brace in a statement is written twice. A line
``-- part: NAME`` is replaced by ``sql/parts/NAME.sql``, text that two statements share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, LiteralString

from psycopg import sql

_SQL_PACKAGE = "rota.store.sql"
_MIGRATIONS_PACKAGE = "rota.store.migrations"


@cache
def _raw(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


_PART = re.compile(r"^[ \t]*-- part: (\w+)[ \t]*$", re.MULTILINE)


def with_parts(text: str) -> str:
    """``text`` with each ``-- part: NAME`` line replaced by ``sql/parts/NAME.sql``."""
    return _PART.sub(lambda found: _raw(_SQL_PACKAGE, f"parts/{found.group(1)}.sql"), text)


def part_names() -> list[str]:
    """Names (without ``.sql``) of the shared parts."""
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in resources.files(_SQL_PACKAGE).joinpath("parts").iterdir()
        if entry.name.endswith(".sql")
    )


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


def compact(text: str) -> str:
    """The statement without ``--`` comments and indentation. psycopg caches the parsing of
    queries up to 4,096 characters only, and the server has less to read. A ``--`` inside a
    string literal (odd count of quotes before it on its line) is kept."""
    lines = []
    for line in text.splitlines():
        cut = line.find("--")
        while cut >= 0 and line.count("'", 0, cut) % 2:  # inside a string literal
            cut = line.find("--", cut + 2)
        if cut >= 0:
            line = line[:cut]
        line = line.strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


@dataclass(frozen=True, slots=True)
class Positional:
    """A statement with PostgreSQL's own ``$n`` placeholders, for a raw cursor: psycopg sends
    it as it is, without parsing it on every execution (as it does for text over 4,096
    characters)."""

    text: LiteralString
    names: tuple[str, ...]

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] for name in self.names]


@cache
def positional(text: LiteralString) -> Positional:
    """``%(name)s`` -> ``$n`` (one number per distinct name), ``%%`` -> ``%``."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    converted: Any = _PLACEHOLDER.sub(number, text)  # still only rota's own text
    return Positional(converted, tuple(names))


@cache
def _statement(name: str, schema: str) -> LiteralString:
    # Text made only from rota's own files and a quoted identifier: safe as a query.
    return render(compact(with_parts(_raw(_SQL_PACKAGE, f"{name}.sql"))), schema)


class Queries:
    """The statements of one schema, rendered on first use and cached."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def __getattr__(self, name: str) -> LiteralString:
        if name.startswith("_"):
            raise AttributeError(name)
        return _statement(name, self.schema)

    def positional(self, name: str) -> Positional:
        return positional(getattr(self, name))

    def migration(self, file_name: str) -> LiteralString:
        return render(_raw(_MIGRATIONS_PACKAGE, file_name), self.schema)
