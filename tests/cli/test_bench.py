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


def _run_script(postgres_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(ROTA_DATABASE_URL=postgres_url)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_scale_benchmark_compares_every_size_with_the_first(postgres_url: str) -> None:
    """bench/scale.py reaches into the worker's claim path: a change there must not leave the
    benchmark broken until someone runs it at a million jobs."""
    sizes = ("--sizes", "300,600", "--singles", "20", "--batches", "2", "--batch-size", "100")
    rest = ("--claim-jobs", "100", "--plans", "summary", "--schema", "rota_scale_test")
    result = _run_script(postgres_url, "bench/scale.py", *sizes, *rest)
    assert result.returncode == 0, result.stderr
    summary = result.stdout.split("=== summary")[1]
    for label in ("enqueue single", "enqueue batch", "fair claim+complete", "fifo claim+complete"):
        [line] = [line for line in summary.splitlines() if line.startswith(label)]
        # "<label>  <jobs/s at 300>  <jobs/s at 600>  <ratio>[ (BELOW TARGET)]"
        base, large, ratio = line.removeprefix(label).split()[:3]
        assert float(base.replace(",", "")) > 0, line
        assert float(large.replace(",", "")) > 0, line
        assert float(ratio) > 0, line


def test_the_scale_benchmark_alternates_sizes_over_rounds_and_compares_medians(
    postgres_url: str,
) -> None:
    sizes = ("--sizes", "300,600", "--rounds", "3", "--singles", "10", "--batches", "1")
    rest = ("--batch-size", "50", "--claim-jobs", "50", "--plans", "summary")
    result = _run_script(postgres_url, "bench/scale.py", *sizes, *rest, "--schema", "rota_rounds")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Sizes alternate: 300, 600, 300, 600, 300, 600; plans only in the first round.
    backlogs = [line.split()[2] for line in out.splitlines() if line.startswith("=== backlog")]
    assert backlogs == ["300", "600"] * 3
    assert out.count("EXPLAIN at") == 2
    rounds = out.split("=== every round")[1].split("=== summary")[0]
    summary = out.split("=== summary")[1]
    assert "medians of 3 rounds" in summary.splitlines()[0]
    for label in ("enqueue single", "enqueue batch", "fair claim+complete", "fifo claim+complete"):
        per_size = [line for line in rounds.splitlines() if line.startswith(label)]
        assert len(per_size) == 2, rounds
        medians = []
        for line in per_size:
            values = [float(v) for v in line.split("   ")[-1].replace(",", "").split()]
            assert len(values) == 3, line
            medians.append(sorted(values)[1])
        [line] = [line for line in summary.splitlines() if line.startswith(label)]
        small, large = (float(v.replace(",", "")) for v in line.removeprefix(label).split()[:2])
        assert (small, large) == pytest.approx(medians, abs=1), (line, per_size)


def test_the_scale_benchmark_runs_each_backlog_on_top_of_kept_history(postgres_url: str) -> None:
    sizes = ("--sizes", "300", "--finished", "0,500", "--singles", "10", "--batches", "1")
    rest = ("--batch-size", "50", "--claim-jobs", "100", "--plans", "summary")
    kept_schema = ("--keep", "--schema", "rota_scale_kept")
    result = _run_script(postgres_url, "bench/scale.py", *sizes, *rest, *kept_schema)
    assert result.returncode == 0, result.stderr
    assert "history: 500 finished jobs kept" in result.stdout
    summary = result.stdout.split("=== summary")[1]
    assert "against 300 (" in summary.splitlines()[0]
    assert summary.splitlines()[1].split()[-3:] == ["+500", "done", "ratio"]
    [line] = [line for line in summary.splitlines() if line.startswith("fair claim+complete")]
    plain, on_history, ratio = line.removeprefix("fair claim+complete").split()[:3]  # 2 runs
    assert float(plain.replace(",", "")) > 0, line
    assert float(on_history.replace(",", "")) > 0, line
    assert float(ratio) > 0, line
    with __import__("psycopg").connect(postgres_url) as conn:
        kept = conn.execute(
            "SELECT status, count(*) FROM rota_scale_kept.jobs GROUP BY status ORDER BY status"
        ).fetchall()
        runs = conn.execute("SELECT count(*) FROM rota_scale_kept.job_runs").fetchone()
        conn.execute("DROP SCHEMA rota_scale_kept CASCADE")
    # The history is in the tables: 500 succeeded jobs and their runs (more from the drains).
    assert dict(kept)["succeeded"] >= 500
    assert runs is not None
    assert runs[0] >= 500


def test_the_scale_benchmark_refuses_a_negative_history(postgres_url: str) -> None:
    result = _run_script(postgres_url, "bench/scale.py", "--finished", "0,-5")
    assert result.returncode == 2
    assert "counts are 0 or more" in result.stderr


def test_the_profiling_drain_runs_every_job(postgres_url: str) -> None:
    options = ("--dsn", postgres_url, "--jobs", "200", "--schema", "rota_profile_test")
    result = _run_script(postgres_url, "bench/profile_worker.py", *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("drained 200 jobs at "), result.stdout
    assert "bytes per job" in result.stdout, result.stdout
