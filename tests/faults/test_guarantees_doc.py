"""docs/guarantees.md backs every promise with a test: each `file::test` it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`((?:faults|tests)/[\w/]+\.py)::(\w+)`")


def _references() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    return sorted(set(REFERENCE.findall(text)))


def test_the_guarantees_name_tests() -> None:
    assert len(_references()) >= 20


@pytest.mark.parametrize(("path", "name"), _references())
def test_every_test_named_by_the_guarantees_exists(path: str, name: str) -> None:
    file = ROOT / ("tests/" + path if path.startswith("faults/") else path)
    assert file.exists(), f"docs/guarantees.md names a missing file {path}"
    tree = ast.parse(file.read_text(encoding="utf-8"))
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert name in defined, f"docs/guarantees.md names {path}::{name}, which does not exist"
