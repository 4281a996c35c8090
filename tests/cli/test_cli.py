"""The ``rota`` command line, run as a real subprocess against the test's schema.

Exit codes: 0 success, 1 runtime failure, 2 usage error; errors are one line on stderr and
never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rota.store.queries import migration_names

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT = 60.0

DB = psycopg.AsyncConnection[dict[str, Any]]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Cli = Callable[..., Awaitable[Result]]


def cli_env(postgres_url: str, schema: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(
        ROTA_DATABASE_URL=postgres_url,
        ROTA_SCHEMA=schema,
        PYTHONUNBUFFERED="1",
        # The demo's hourly schedule would add a job when a test runs just after the hour.
        ROTA_SCHEDULE_GRACE_SECONDS="0.001",
    )
    return env


async def run_rota(env: dict[str, str], *args: str) -> Result:
    """Run ``python -m rota ...`` from the repository root; its stderr never has a traceback."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rota",
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"rota {' '.join(args)} did not exit in {CLI_TIMEOUT}s") from None
    assert process.returncode is not None
    result = Result(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture
def rota_cli(postgres_url: str, schema: str) -> Cli:
    """``await rota_cli("enqueue", ...)`` on the test's schema."""
    env = cli_env(postgres_url, schema)

    async def run(*args: str) -> Result:
        return await run_rota(env, *args)

    return run


def assert_one_error(result: Result, code: int, error_code: str) -> None:
    assert result.code == code, result
    assert len(result.stderr_lines) == 1, result.stderr
    assert error_code in result.stderr_lines[0], result.stderr


async def job_row(db: DB, job_id: str) -> dict[str, Any] | None:
    cursor = await db.execute("SELECT * FROM jobs WHERE id = %s", (job_id,))
    return await cursor.fetchone()


async def enqueue_ping(rota_cli: Cli, *extra: str) -> str:
    result = await rota_cli(
        "enqueue", "demo.ping", "--tenant", "acme", "--payload", '{"message":"hi"}', *extra
    )
    assert result.code == 0, result
    return str(uuid.UUID(result.stdout.strip()))


# -- enqueue ------------------------------------------------------------------------------------


async def test_enqueue_prints_the_id_of_a_stored_job(rota_cli: Cli, db: DB) -> None:
    result = await rota_cli(
        "enqueue", "demo.ping", "--tenant", "acme", "--payload", '{"message":"hi"}'
    )

    assert result.code == 0, result
    job_id = uuid.UUID(result.stdout.strip())
    row = await job_row(db, str(job_id))
    assert row is not None
    assert row["type"] == "demo.ping"
    assert row["tenant_id"] == "acme"
    assert row["status"] == "queued"
    assert row["payload"] == {"message": "hi"}


async def test_enqueue_of_an_unknown_type_fails_with_one_line(rota_cli: Cli, db: DB) -> None:
    result = await rota_cli("enqueue", "demo.nope", "--tenant", "acme")

    assert_one_error(result, 1, "unknown_job_type")
    cursor = await db.execute("SELECT count(*) AS n FROM jobs")
    assert await cursor.fetchone() == {"n": 0}


async def test_enqueue_of_a_user_job_without_tenant_fails(rota_cli: Cli) -> None:
    result = await rota_cli("enqueue", "demo.ping", "--payload", "{}")

    assert_one_error(result, 1, "tenant_required")


@pytest.mark.parametrize("payload", ["not json", "[1]"])
async def test_enqueue_with_a_payload_that_is_not_a_json_object_is_a_usage_error(
    rota_cli: Cli, payload: str
) -> None:
    result = await rota_cli("enqueue", "demo.ping", "--tenant", "acme", "--payload", payload)

    assert result.code == 2, result
    assert "--payload" in result.stderr


async def test_enqueue_with_an_invalid_payload_fails(rota_cli: Cli, db: DB) -> None:
    result = await rota_cli("enqueue", "demo.report", "--tenant", "acme", "--payload", "{}")

    assert_one_error(result, 1, "invalid_payload")
    cursor = await db.execute("SELECT count(*) AS n FROM jobs")
    assert await cursor.fetchone() == {"n": 0}


async def test_enqueue_with_the_same_idempotency_key_prints_the_same_id(
    rota_cli: Cli, db: DB
) -> None:
    first = await enqueue_ping(rota_cli, "--idempotency-key", "k-1")
    second = await enqueue_ping(rota_cli, "--idempotency-key", "k-1")

    assert first == second
    cursor = await db.execute("SELECT count(*) AS n FROM jobs WHERE idempotency_key = 'k-1'")
    assert await cursor.fetchone() == {"n": 1}


# -- status and jobs ---------------------------------------------------------------------------


async def test_status_shows_a_job(rota_cli: Cli) -> None:
    job_id = await enqueue_ping(rota_cli)

    result = await rota_cli("status", job_id)

    assert result.code == 0, result
    fields = dict(
        line.strip().split(": ", 1) for line in result.stdout.splitlines() if ": " in line
    )
    assert fields["id"] == job_id
    assert fields["status"] == "queued"
    assert fields["tenant_id"] == "acme"


async def test_status_json_shows_the_job_and_its_fields(rota_cli: Cli) -> None:
    job_id = await enqueue_ping(rota_cli)

    result = await rota_cli("status", job_id, "--json")

    assert result.code == 0, result
    document = json.loads(result.stdout)
    assert document["id"] == job_id
    assert document["status"] == "queued"
    assert document["tenant_id"] == "acme"


async def test_status_of_an_unknown_job_is_not_found(rota_cli: Cli) -> None:
    result = await rota_cli("status", str(uuid.uuid4()))

    assert_one_error(result, 1, "not_found")


async def test_status_of_something_that_is_not_a_uuid_is_a_usage_error(rota_cli: Cli) -> None:
    result = await rota_cli("status", "not-a-uuid")

    assert result.code == 2, result


async def test_jobs_lists_queued_jobs_as_json(rota_cli: Cli) -> None:
    job_id = await enqueue_ping(rota_cli)

    result = await rota_cli("jobs", "--status", "queued", "--json")

    assert result.code == 0, result
    jobs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [job["id"] for job in jobs] == [job_id]
    assert jobs[0]["status"] == "queued"
    assert jobs[0]["type"] == "demo.ping"


async def test_jobs_with_another_status_does_not_list_the_job(rota_cli: Cli) -> None:
    await enqueue_ping(rota_cli)

    result = await rota_cli("jobs", "--status", "succeeded", "--json")

    assert result.code == 0, result
    assert result.stdout.strip() == ""


# -- cancel and retry --------------------------------------------------------------------------


async def test_cancel_then_retry_a_job(rota_cli: Cli, db: DB) -> None:
    job_id = await enqueue_ping(rota_cli)

    cancelled = await rota_cli("cancel", job_id)
    assert cancelled.code == 0, cancelled
    assert cancelled.stdout.strip() == "cancelled"
    row = await job_row(db, job_id)
    assert row is not None
    assert row["status"] == "cancelled"

    again = await rota_cli("cancel", job_id)
    assert_one_error(again, 1, "invalid_state")
    row = await job_row(db, job_id)
    assert row is not None
    assert row["status"] == "cancelled"

    retried = await rota_cli("retry", job_id)
    assert retried.code == 0, retried
    assert retried.stdout.strip() == "queued"
    row = await job_row(db, job_id)
    assert row is not None
    assert row["status"] == "queued"
    assert row["finished_at"] is None


async def test_retry_of_a_queued_job_is_an_invalid_state(rota_cli: Cli, db: DB) -> None:
    job_id = await enqueue_ping(rota_cli)

    result = await rota_cli("retry", job_id)

    assert_one_error(result, 1, "invalid_state")
    row = await job_row(db, job_id)
    assert row is not None
    assert row["status"] == "queued"


async def test_cancel_of_another_tenants_job_is_not_found_and_changes_nothing(
    rota_cli: Cli, db: DB
) -> None:
    job_id = await enqueue_ping(rota_cli)
    before = await job_row(db, job_id)

    result = await rota_cli("cancel", "--tenant", "other", job_id)

    assert_one_error(result, 1, "not_found")
    assert await job_row(db, job_id) == before
    cursor = await db.execute(
        "SELECT count(*) AS n FROM job_events WHERE job_id = %s AND to_status = 'cancelled'",
        (job_id,),
    )
    assert await cursor.fetchone() == {"n": 0}


async def test_cancel_with_the_jobs_own_tenant_cancels_it(rota_cli: Cli, db: DB) -> None:
    job_id = await enqueue_ping(rota_cli)

    result = await rota_cli("cancel", "--tenant", "acme", job_id)

    assert result.code == 0, result
    row = await job_row(db, job_id)
    assert row is not None
    assert row["status"] == "cancelled"


# -- drain and migrate -------------------------------------------------------------------------


async def test_drain_runs_the_due_jobs_then_exits(rota_cli: Cli, db: DB) -> None:
    job_ids = [await enqueue_ping(rota_cli) for _ in range(3)]

    result = await rota_cli("drain")

    assert result.code == 0, result
    assert "ran 3 jobs" in result.stdout
    cursor = await db.execute("SELECT id::text AS id, status, result FROM jobs ORDER BY id")
    rows = await cursor.fetchall()
    assert sorted(row["id"] for row in rows) == sorted(job_ids)
    assert {row["status"] for row in rows} == {"succeeded"}
    assert all(row["result"] == {"reply": "pong", "echo": "hi"} for row in rows)


async def test_drain_with_nothing_due_runs_no_jobs(rota_cli: Cli) -> None:
    await enqueue_ping(rota_cli, "--run-after", "1h")

    result = await rota_cli("drain")

    assert result.code == 0, result
    assert "ran 0 jobs" in result.stdout


@pytest.fixture
def fresh_schema(postgres_url: str) -> Iterator[str]:
    """A schema name nobody has migrated yet; dropped afterwards."""
    name = f"c_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


async def test_migrate_applies_once_then_is_up_to_date(
    postgres_url: str, fresh_schema: str
) -> None:
    env = cli_env(postgres_url, fresh_schema)

    first = await run_rota(env, "migrate")
    second = await run_rota(env, "migrate")

    assert first.code == 0, first
    assert f"applied {', '.join(migration_names())} to schema {fresh_schema}" in first.stdout
    assert second.code == 0, second
    assert f"schema {fresh_schema} is up to date" in second.stdout


async def test_migrate_of_a_migrated_schema_exits_0(rota_cli: Cli, schema: str) -> None:
    result = await rota_cli("migrate")

    assert result.code == 0, result
    assert f"schema {schema} is up to date" in result.stdout


# -- usage errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("frobnicate",),
        ("jobs", "--no-such-option"),
        ("jobs", "--status", "sleeping"),
        ("enqueue",),
    ],
)
async def test_usage_errors_exit_2(rota_cli: Cli, args: tuple[str, ...]) -> None:
    result = await rota_cli(*args)

    assert result.code == 2, result
    assert result.stderr.strip()
