"""The global invariants every fault scenario ends with (docs/research reliability §3.1).

Each check is one SQL query on the scenario's schema that names the offending rows; an empty
list means the invariant holds. ``check_invariants`` runs them all after quiescence and
``assert_invariants`` fails the test with every violation at once.

    I1 lost            every acknowledged enqueue exists
    I2 stuck-running   no running job without a live lease (beyond the rescue interval)
    I4 attempts        attempt <= max_attempts; poisoned means attempt = max_attempts
    I5 one success     at most one succeeded run per job, and it is the job's current attempt
    I6 effects once    a succeeded job with an effect key has exactly one effect, its own
    I7 history         the last transition's to_status is the status; transitions chain
                       (each from_status is the previous to_status) and are allowed
    I8 one terminal    at most one terminal transition per job (no operator retries here)
    I10 database time  no timestamp in the future
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from rota.core.states import ALLOWED_TRANSITIONS

Conn = psycopg.AsyncConnection[Any]
TERMINAL = ["succeeded", "failed", "poisoned", "cancelled"]


@dataclass
class Report:
    violations: dict[str, list[Any]] = field(default_factory=dict)
    jobs: int = 0
    duplicate_executions: int = 0  # reported, allowed by at-least-once delivery

    def add(self, name: str, rows: list[Any]) -> None:
        if rows:
            self.violations[name] = rows

    def __str__(self) -> str:
        lines = [f"{name}: {rows[:10]!r}" for name, rows in self.violations.items()]
        return "\n".join(lines) or "all invariants hold"


async def _rows(conn: Conn, query: str, params: dict[str, Any] | None = None) -> list[Any]:
    cursor = await conn.execute(query, params or {})
    return [
        tuple(row.values()) if isinstance(row, dict) else row for row in await cursor.fetchall()
    ]


async def _has_table(conn: Conn, name: str) -> bool:
    rows = await _rows(conn, "SELECT to_regclass(%(name)s) IS NOT NULL", {"name": name})
    return bool(rows[0][0])


async def check_invariants(
    conn: Conn, *, acked: Iterable[UUID] = (), rescue_slack_seconds: float = 2.5
) -> Report:
    """Every invariant on the schema in ``conn``'s search_path. ``acked``: the ids that
    enqueue calls returned. ``rescue_slack_seconds``: how long past its lease end a running
    job may wait for the rescuer (rescue interval + a margin)."""
    report = Report()
    report.jobs = (await _rows(conn, "SELECT count(*) FROM jobs"))[0][0]
    acked_ids = list(set(acked))
    report.add(
        "I1 lost",
        await _rows(
            conn,
            "SELECT a.id FROM unnest(%(ids)s::uuid[]) AS a(id) "
            "LEFT JOIN jobs AS j ON j.id = a.id WHERE j.id IS NULL",
            {"ids": acked_ids},
        ),
    )
    report.add(
        "I2 stuck running",
        await _rows(
            conn,
            "SELECT id, locked_until, now() FROM jobs WHERE status = 'running' "
            "AND (locked_until IS NULL "
            "OR locked_until < now() - make_interval(secs => %(slack)s))",
            {"slack": rescue_slack_seconds},
        ),
    )
    report.add(
        "I4 attempts",
        await _rows(
            conn,
            "SELECT id, status, attempt, max_attempts FROM jobs WHERE attempt > max_attempts "
            "OR attempt < 0 OR (status = 'poisoned' AND attempt <> max_attempts)",
        ),
    )
    report.add(
        "I5 one success",
        await _rows(
            conn,
            "SELECT job_id, count(*) FROM job_runs WHERE outcome = 'succeeded' "
            "GROUP BY job_id HAVING count(*) > 1",
        ),
    )
    report.add(
        "I5 success is the current attempt",
        await _rows(
            conn,
            "SELECT j.id, j.status, j.attempt, r.attempt FROM jobs AS j "
            "JOIN job_runs AS r ON r.job_id = j.id AND r.outcome = 'succeeded' "
            "WHERE r.attempt <> j.attempt OR j.status <> 'succeeded'",
        ),
    )
    report.add(
        "I5 succeeded without its run",
        await _rows(
            conn,
            "SELECT j.id FROM jobs AS j WHERE j.status = 'succeeded' AND NOT EXISTS ("
            "SELECT 1 FROM job_runs AS r WHERE r.job_id = j.id AND r.outcome = 'succeeded')",
        ),
    )
    if await _has_table(conn, "effects"):
        report.add(
            "I6 effects once",
            await _rows(
                conn,
                "SELECT j.id, j.payload->>'key', count(e.key) FROM jobs AS j "
                "LEFT JOIN effects AS e ON e.key = j.payload->>'key' AND e.job_id = j.id "
                "WHERE j.status = 'succeeded' AND j.payload->>'key' IS NOT NULL "
                "GROUP BY j.id HAVING count(e.key) <> 1",
            ),
        )
        report.add(
            "I6 effect of another job",
            await _rows(
                conn,
                "SELECT e.key, e.job_id FROM effects AS e JOIN jobs AS j ON j.id = e.job_id "
                "WHERE j.payload->>'key' IS DISTINCT FROM e.key",
            ),
        )
    if await _has_table(conn, "exec_log"):
        report.duplicate_executions = (
            await _rows(
                conn,
                "SELECT count(*) FROM (SELECT l.job_id FROM exec_log AS l "
                "JOIN jobs AS j ON j.id = l.job_id AND j.status = 'succeeded' "
                "WHERE l.phase = 'end' GROUP BY l.job_id HAVING count(*) > 1) AS d",
            )
        )[0][0]
    report.add(
        "I7 last transition is the status",
        await _rows(
            conn,
            "SELECT j.id, j.status, e.to_status FROM jobs AS j "
            "LEFT JOIN LATERAL (SELECT to_status FROM job_events AS e "
            "  WHERE e.job_id = j.id AND e.kind = 'transition' ORDER BY e.id DESC LIMIT 1) AS e "
            "  ON true "
            "WHERE j.status IS DISTINCT FROM COALESCE(e.to_status, 'queued')",
        ),
    )
    allowed = sorted((a.value, b.value) for a, b in ALLOWED_TRANSITIONS)
    report.add(
        "I7 transitions chain and are allowed",
        await _rows(
            conn,
            "SELECT job_id, id, previous, from_status, to_status FROM ("
            "  SELECT job_id, id, from_status, to_status, COALESCE(lag(to_status) OVER ("
            "    PARTITION BY job_id ORDER BY id), 'queued') AS previous "
            "  FROM job_events WHERE kind = 'transition') AS t "
            "WHERE from_status IS DISTINCT FROM previous "
            "OR (from_status, to_status) NOT IN ("
            "  SELECT * FROM unnest(%(froms)s::text[], %(tos)s::text[]))",
            {"froms": [a for a, _ in allowed], "tos": [b for _, b in allowed]},
        ),
    )
    report.add(
        "I8 one terminal transition",
        await _rows(
            conn,
            "SELECT job_id, count(*) FROM job_events WHERE kind = 'transition' "
            "AND to_status = ANY(%(terminal)s) GROUP BY job_id HAVING count(*) > 1",
            {"terminal": TERMINAL},
        ),
    )
    report.add(
        "I10 no future timestamps",
        await _rows(
            conn,
            "SELECT 'jobs', id::text FROM jobs "
            "WHERE greatest(created_at, started_at, finished_at) > now() + interval '1 second' "
            "UNION ALL SELECT 'job_events', id::text FROM job_events "
            "WHERE at > now() + interval '1 second' "
            "UNION ALL SELECT 'job_runs', job_id::text FROM job_runs "
            "WHERE greatest(started_at, finished_at) > now() + interval '1 second'",
        ),
    )
    return report


async def assert_invariants(conn: Conn, **options: Any) -> Report:
    report = await check_invariants(conn, **options)
    assert not report.violations, str(report)
    return report
