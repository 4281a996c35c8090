"""``rota schedules`` as a subprocess: add, list, pause, resume, remove, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rota_cli(postgres_url: str, schema: str):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(ROTA_DATABASE_URL=postgres_url, ROTA_SCHEMA=schema)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "rota", "schedules", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def test_schedules_cli_round_trip(rota_cli) -> None:  # type: ignore[no-untyped-def]
    added = rota_cli(
        "add",
        "demo.reminder",
        "--tenant",
        "acme",
        "--kind",
        "weekly",
        "--weekdays",
        "1,5",
        "--time",
        "09:15",
        "--timezone",
        "America/New_York",
        "--payload",
        '{"user_id": "u1", "text": "standup"}',
    )
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.split()[0]
    listed = rota_cli("list", "--tenant", "acme")
    assert schedule_id in listed.stdout
    assert "weekly 1,5 at 09:15" in listed.stdout
    assert rota_cli("pause", schedule_id).stdout.strip().endswith("paused")
    assert "resumed" in rota_cli("resume", schedule_id, "--tenant", "acme").stdout
    other = rota_cli("pause", schedule_id, "--tenant", "globex")
    assert other.returncode == 1
    assert "not_found" in other.stderr
    assert rota_cli("remove", schedule_id).returncode == 0
    assert schedule_id not in rota_cli("list").stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "cron", "--cron", "nonsense"], 1, "invalid_schedule"),
        (["--kind", "daily", "--time", "09:00", "--timezone", "Nowhere/Land"], 1, "time zone"),
        (["--kind", "daily"], 1, "HH:MM"),
        (["--kind", "fortnightly", "--time", "09:00"], 2, "fortnightly"),
        (["--kind", "daily", "--time", "09:00", "--payload", "[]"], 2, "JSON object"),
    ],
)
def test_bad_schedules_fail_with_one_line(  # type: ignore[no-untyped-def]
    rota_cli, args: list[str], code: int, message: str
) -> None:
    result = rota_cli(
        "add",
        "demo.reminder",
        "--tenant",
        "acme",
        *args,
        *([] if "--payload" in args else ["--payload", '{"user_id": "u", "text": "t"}']),
    )
    assert result.returncode == code
    assert message in result.stderr
    assert rota_cli("list").stdout.count("demo.reminder") == 0
