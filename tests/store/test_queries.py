"""Every statement file is used, every statement a store method names has a file, every shared
part is included by a statement, and every statement is accepted by PostgreSQL's parser and
analyser against a migrated schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from rota.store.queries import (
    Queries,
    compact,
    part_names,
    positional,
    statement_names,
    with_parts,
)

STORE_DIR = Path(__file__).resolve().parents[2] / "src" / "rota" / "store"
SQL_DIR = STORE_DIR / "sql"
QUERY_REFERENCE = re.compile(r"\.q\.(?:positional\(\")?([A-Za-z_][A-Za-z0-9_]*)")


def referenced_names() -> dict[str, set[str]]:
    """name -> the store modules that run ``self.q.<name>``."""
    found: dict[str, set[str]] = {}
    for module in sorted(STORE_DIR.glob("*.py")):
        for name in QUERY_REFERENCE.findall(module.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(module.name)
    return found


def test_statement_files_are_found_by_the_loader() -> None:
    on_disk = sorted(path.stem for path in SQL_DIR.glob("*.sql"))
    assert on_disk
    assert statement_names() == on_disk


def test_every_statement_file_is_used_by_a_store_method() -> None:
    unused = set(statement_names()) - set(referenced_names())
    assert not unused, f"statement files no store method runs: {sorted(unused)}"


def test_every_statement_a_store_method_runs_has_a_file() -> None:
    missing = {
        name: sorted(modules)
        for name, modules in referenced_names().items()
        if name not in statement_names()
    }
    assert not missing, f"self.q.<name> without sql/<name>.sql: {missing}"


def test_every_shared_part_is_included_by_two_statements() -> None:
    assert part_names() == sorted(path.stem for path in (SQL_DIR / "parts").glob("*.sql"))
    for part in part_names():
        including = [
            path.stem
            for path in SQL_DIR.glob("*.sql")
            if f"-- part: {part}\n" in path.read_text(encoding="utf-8")
        ]
        assert len(including) >= 2, f"parts/{part}.sql is shared by {including} only"


def test_a_part_line_is_replaced_by_the_part_and_an_unknown_part_is_an_error() -> None:
    part = (SQL_DIR / "parts" / "best_priority.sql").read_text(encoding="utf-8")
    assert with_parts("WITH RECURSIVE\n    -- part: best_priority\nx AS (SELECT 1)") == (
        f"WITH RECURSIVE\n{part}\nx AS (SELECT 1)"
    )
    assert with_parts("SELECT 1 -- part: best_priority") == "SELECT 1 -- part: best_priority"
    with pytest.raises(FileNotFoundError):
        with_parts("-- part: no_such_part")


def test_placeholder_conversion_numbers_each_name_once() -> None:
    statement = positional("SELECT %(a)s, %(b)s, %(a)s, 'x%%y', '%%(c)s'")
    assert statement.text == "SELECT $1, $2, $1, 'x%y', '%(c)s'"
    assert statement.names == ("a", "b")
    assert statement.params({"b": 2, "a": 1, "unused": 3}) == [1, 2]


def test_compacting_drops_comments_and_indentation_only() -> None:
    text = "SELECT 'a -- b' AS x, -- why\n    -- a whole line\n    1 AS y\n"
    assert compact(text) == "SELECT 'a -- b' AS x,\n1 AS y"


@pytest.fixture
def conn(postgres_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(postgres_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.mark.parametrize("name", statement_names())
def test_statement_is_accepted_by_postgresql(
    name: str, schema: str, conn: psycopg.Connection[dict[str, Any]]
) -> None:
    """PREPARE parses and analyses the statement (tables, columns, types, parameter types)
    without running it; the transaction is rolled back so nothing is left behind."""
    rendered = getattr(Queries(schema), name)
    assert "{schema}" not in rendered
    if rendered.startswith("COPY"):  # cannot be prepared: run it on no rows, then roll back
        conn.autocommit = False
        try:
            with conn.cursor().copy(rendered):
                pass
        finally:
            conn.rollback()
        return
    statement = positional(rendered)
    text, params = statement.text, statement.names
    assert "%(" not in text
    conn.autocommit = False
    try:
        conn.execute(f"PREPARE rota_check_{name} AS {text}")
        described = conn.execute(
            "SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = %s",
            (f"rota_check_{name}",),
        ).fetchone()
    finally:
        conn.rollback()
    assert described is not None
    assert len(described["types"]) == len(params), (params, described["types"])
