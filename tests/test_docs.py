"""The documents that must follow the code: the settings table, the public surface, the state
diagram, the paths in the architecture page, and the HTTP API's routes and error codes."""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path
from typing import Any

import pytest

import rota
from rota.api.app import create_api
from rota.api.problems import STATUS_BY_CODE
from rota.config import Settings, env_variable
from rota.core.states import ALLOWED_TRANSITIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "rota"


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """Rows of every Markdown table whose first cell is one backticked name, by that name."""
    rows: dict[str, list[str]] = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_][a-z0-9_]*)`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match.group(1)] = cells
    return rows


def _literal(value: Any) -> str:
    """A default as docs/configuration.md writes it: strings bare, anything else as repr."""
    return value if isinstance(value, str) else repr(value)


@pytest.fixture(scope="module")
def settings_rows() -> dict[str, list[str]]:
    return _table_rows((DOCS / "configuration.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented_with_its_variable_and_default(
    name: str, settings_rows: dict[str, list[str]]
) -> None:
    assert name in settings_rows, f"docs/configuration.md has no row for `{name}`"
    row = settings_rows[name]
    assert f"`{env_variable(name)}`" in row, (
        f"`{name}`: its variable {env_variable(name)} is missing"
    )
    default = Settings.model_fields[name].default
    assert f"`{_literal(default)}`" in row, (
        f"`{name}`: its default `{_literal(default)}` is missing"
    )


def test_configuration_documents_no_setting_that_does_not_exist(
    settings_rows: dict[str, list[str]],
) -> None:
    assert set(settings_rows) <= set(Settings.model_fields)


def test_all_is_sorted() -> None:
    assert rota.__all__ == sorted(rota.__all__)


def test_all_has_no_duplicates_and_every_name_resolves() -> None:
    assert len(rota.__all__) == len(set(rota.__all__))
    missing = [name for name in rota.__all__ if not hasattr(rota, name)]
    assert not missing, f"in rota.__all__ but not defined: {missing}"


def test_every_public_name_of_the_package_is_in_all() -> None:
    public = {
        name
        for name, value in vars(rota).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(rota.__all__), f"exported but not in __all__: {public - set(rota.__all__)}"


def test_every_name_imported_by_init_is_in_all() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    public = {name for name in names if not name.startswith("_") and name != "annotations"}
    assert public <= set(rota.__all__), f"imported but not in __all__: {public - set(rota.__all__)}"


def test_state_diagram_shows_exactly_the_allowed_transitions() -> None:
    text = (DOCS / "state-machine.md").read_text(encoding="utf-8")
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    drawn = {
        (source, target)
        for source, target in re.findall(r"^\s*(\w+)\s*-->\s*(\w+)", diagram, re.MULTILINE)
    }
    allowed = {(source.value, target.value) for source, target in ALLOWED_TRANSITIONS}
    assert drawn == allowed


def test_paths_in_the_architecture_page_exist() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    paths = {
        token
        for token in re.findall(r"`([\w./-]+)`", text)
        if "/" in token and re.search(r"\.(py|sql|md)$", token)
    }
    assert paths, "no paths found in docs/architecture.md"
    missing = sorted(p for p in paths if not (PACKAGE / p).exists() and not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


# -- the HTTP API page ---------------------------------------------------------------------

# Nothing listens on port 1: building the API must not connect, and would fail here if it did.
UNREACHABLE_URL = "postgresql://unused@127.0.0.1:1/x"


def _route_paths(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route, following routers that FastAPI keeps nested."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            methods = getattr(route, "methods", None) or ()
            found |= {(method, prefix + path) for method in methods if method != "HEAD"}
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            found |= _route_paths(included.routes, prefix + getattr(context, "prefix", ""))
    return found


@pytest.fixture(scope="module")
def api_routes() -> set[tuple[str, str]]:
    api = create_api(rota.App(UNREACHABLE_URL))
    routes = _route_paths(list(api.routes))
    documented = {
        (method.upper(), path)
        for path, operations in api.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= routes, f"routes not found in api.routes: {documented - routes}"
    return {(method, path) for method, path in routes if path.startswith("/v1")}


@pytest.fixture(scope="module")
def api_page() -> str:
    return (DOCS / "api.md").read_text(encoding="utf-8")


def test_every_api_route_is_documented(api_routes: set[tuple[str, str]], api_page: str) -> None:
    assert api_routes, "no /v1 routes found"
    missing_paths = sorted({path for _, path in api_routes if path not in api_page})
    assert not missing_paths, f"docs/api.md does not mention {missing_paths}"
    sections = set(re.findall(r"^#+ ([A-Z]+) (/\S*)$", api_page, re.MULTILINE))
    undocumented = sorted(f"{method} {path}" for method, path in api_routes - sections)
    assert not undocumented, f"docs/api.md has no section headed 'METHOD path' for {undocumented}"


def test_every_error_code_is_documented_with_its_status(api_page: str) -> None:
    errors = _table_rows(api_page.split("\n## Errors\n", 1)[1])
    missing = sorted(set(STATUS_BY_CODE) - set(errors))
    assert not missing, f"docs/api.md's error table lacks {missing}"
    unknown = sorted(set(errors) - set(STATUS_BY_CODE))
    assert not unknown, f"docs/api.md's error table names codes that do not exist: {unknown}"
    wrong = sorted(
        code for code, status in STATUS_BY_CODE.items() if str(status) not in errors[code]
    )
    assert not wrong, f"docs/api.md gives the wrong HTTP status for {wrong}"
