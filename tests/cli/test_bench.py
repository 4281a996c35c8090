"""``rota bench`` runs every workload against the configured database and prints figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_rota_bench_prints_a_figure_for_every_workload(postgres_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(ROTA_DATABASE_URL=postgres_url, COLUMNS="160")
    result = subprocess.run(
        [sys.executable, "-m", "rota", "bench", "--jobs", "300", "--concurrency", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ W")]
    assert [row.split()[1] for row in rows] == ["W1", "W1", "W2", "W3"]
    for row in rows:
        figures = [cell.strip() for cell in row.strip("│ ").split("│")[1:]]
        assert any(cell.replace(",", "").replace(".", "").isdigit() for cell in figures), row
    drain = [cell.strip() for cell in rows[2].strip("│ ").split("│")[1:]]
    assert drain[3].replace(",", "").isdigit(), drain  # the worker's CPU time per job
    with __import__("psycopg").connect(postgres_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rota_bench_%'"
        ).fetchone()
    assert left == (0,)  # the throwaway schema is gone
