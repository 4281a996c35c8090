"""ClaimStore: the fair claim (tenants round robin, limits counted in the database)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncCursor, AsyncRawCursor
from psycopg.rows import dict_row

from rota.core.job import Job
from rota.core.limits import RateLimit, grant_runs, next_allowed, sooner, spend
from rota.store.db import AsyncConn, Database, OwnConnection
from rota.store.jobs import job_rows, translated
from rota.store.queries import Queries

MAX_TENANTS_PER_CLAIM = 100
_FAIR_CLAIM_ROWS = job_rows("next_cursor", "reached_end")
# After a claim found due tenants locked by another claimer, when to try again.
_CONTENDED_RETRY_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class FairClaim:
    """One fair claim's inputs for one queue."""

    queue: str
    cursor: str
    limit: int
    worker_id: UUID
    lease_seconds: float
    excluded_types: Sequence[str] = ()
    type_caps: Mapping[str, int] = field(default_factory=dict)
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    tenant_rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    default_weight: int = 1
    default_max_running: int | None = None
    lock_tenants: bool = False


class ClaimStore:
    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.q = Queries(schema)
        # The fair claim's own connection, with generic plans: PostgreSQL would otherwise
        # re-plan the claim on every execution (about 1 ms of its 2.6), while the generic plan
        # of this statement is as good. The claim by id runs here too, so that an idle
        # worker's wake-up takes no pool checkout (its plan can only probe the primary key,
        # see claim_jobs_by_id.sql). Other statements keep the pool's default, since for
        # some of them (the FIFO claim) the generic plan is worse.
        self._claim_conn = OwnConnection(
            db, "rota-claim", session={"plan_cache_mode": "force_generic_plan"}
        )

    async def close(self) -> None:
        await self._claim_conn.close()

    def connection(self) -> AbstractAsyncContextManager[AsyncConn]:
        """The claim connection, for the claim by id (one claim runs at a time)."""
        return self._claim_conn.use()

    async def has_tenant_caps(self) -> bool:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.has_tenant_caps)
                row = await cursor.fetchone()
        return bool(row and row["has_caps"])

    async def claim_fair(self, claim: FairClaim) -> tuple[list[Job], str, float | None]:
        """Claim in weighted round robin across tenants; returns the jobs, the cursor to
        continue from and, when a rate limit held jobs back, the seconds until it allows the
        next start.

        Without limits each pass is one statement; with limits a pass chooses and try-locks
        tenants first, then claims them in a second statement whose snapshot follows the
        locks, in one transaction. Passes go on past tenants with nothing due until jobs are
        claimed or every tenant was walked once (wrapping around to the first)."""
        start = claim.cursor
        wrapped = not start
        wake_in: float | None = None
        while True:
            jobs, cursor, reached_end, wake = await self._pass(
                claim if start == claim.cursor else replace(claim, cursor=start)
            )
            wake_in = sooner(wake_in, wake)  # the soonest of every pass's
            if jobs:
                return jobs, "" if reached_end else cursor, wake_in
            if reached_end:
                if wrapped:
                    return [], "", wake_in
                wrapped, start = True, ""
            elif wrapped and claim.cursor and cursor >= claim.cursor:
                return [], cursor, wake_in  # came round to where this claim began
            else:
                start = cursor

    async def _pass(self, claim: FairClaim) -> tuple[list[Job], str, bool, float | None]:
        locking = (
            claim.lock_tenants
            or bool(claim.type_caps)
            or bool(claim.rate_limits)
            or bool(claim.tenant_rate_limits)
        )
        with translated():
            async with self._claim_conn.use() as conn, _transaction_if(conn, locking):
                cursor: AsyncCursor[dict[str, Any]] = conn.cursor(row_factory=dict_row)
                if not locking:
                    jobs, next_cursor, reached_end = await self._claim(
                        cursor, claim, None, [], {}, {}
                    )
                    return jobs, next_cursor, reached_end, None
                await cursor.execute(
                    self.q.scan_tenants,
                    {
                        "tenants": None,  # the walk's own parameter: walk from the cursor
                        "queue": claim.queue,
                        "cursor": claim.cursor,
                        "tenant_count": _tenant_count(claim),
                        "max_steps": _max_steps(claim),
                        "lock_tenants": claim.lock_tenants,
                    },
                )
                walked = await cursor.fetchall()
                reached_end = not walked or walked[-1]["tenant_key"] is None
                keys = [row["tenant_key"] for row in walked if row["tenant_key"] is not None]
                tenants = [row["tenant_key"] for row in walked if row["is_locked"]]
                next_cursor = keys[-1] if keys else ""
                # Due tenants another claimer holds right now: try again soon, not at the next
                # poll (a busy claimer would otherwise keep the others away from them).
                contended = any(row["is_due"] and not row["is_locked"] for row in walked)
                retry = _CONTENDED_RETRY_SECONDS if contended else None
                if not tenants:
                    return [], next_cursor, reached_end, retry
                excluded: list[str] = []
                if claim.type_caps:
                    await cursor.execute(self.q.lock_types, {"types": list(claim.type_caps)})
                    locked = {row["type"] for row in await cursor.fetchall()}
                    excluded += [t for t in claim.type_caps if t not in locked]
                grants: dict[str, int] = {}
                rate_clock: dict[str, tuple[datetime, datetime]] = {}
                for type_key, rate in claim.rate_limits.items():
                    await cursor.execute(self.q.lock_rate, {"key": f"type:{type_key}"})
                    row = await cursor.fetchone()
                    assert row is not None
                    rate_clock[f"type:{type_key}"] = (row["tat"], row["now"])
                    grants[type_key], _ = grant_runs(rate, row["tat"], row["now"], claim.limit)
                    if grants[type_key] == 0:
                        excluded.append(type_key)
                # Per-tenant rate limits: one reservation per (type, visited tenant).
                pair_grants: dict[tuple[str, str], int] = {}
                for type_key, rate in claim.tenant_rate_limits.items():
                    for tenant in tenants:
                        key = _pair_key(type_key, tenant)
                        await cursor.execute(self.q.lock_rate, {"key": key})
                        row = await cursor.fetchone()
                        assert row is not None
                        rate_clock[key] = (row["tat"], row["now"])
                        pair_grants[(type_key, tenant)], _ = grant_runs(
                            rate, row["tat"], row["now"], claim.limit
                        )
                jobs, _, _ = await self._claim(
                    cursor, claim, tenants, excluded, grants, pair_grants
                )
                wake_in: float | None = retry
                for type_key, tenant_key, rate, granted in [
                    *((t, None, claim.rate_limits[t], g) for t, g in grants.items()),
                    *((t, n, claim.tenant_rate_limits[t], g) for (t, n), g in pair_grants.items()),
                ]:
                    key = (
                        f"type:{type_key}"
                        if tenant_key is None
                        else _pair_key(type_key, tenant_key)
                    )
                    tat, now = rate_clock[key]
                    used = sum(
                        1
                        for job in jobs
                        if job.type == type_key
                        and (tenant_key is None or (job.tenant_id or "") == tenant_key)
                    )
                    new_tat = spend(rate, tat, now, used)
                    await cursor.execute(self.q.set_rate, {"key": key, "tat": new_tat})
                    if granted == 0:  # the limit, not something else, held jobs back
                        wait = next_allowed(rate, new_tat, now).total_seconds()
                        wake_in = sooner(wake_in, wait)
        return jobs, next_cursor, reached_end, wake_in

    async def _claim(
        self,
        cursor: AsyncCursor[dict[str, Any]],
        claim: FairClaim,
        tenants: list[str] | None,
        excluded: list[str],
        grants: dict[str, int],
        pair_grants: dict[tuple[str, str], int],
    ) -> tuple[list[Job], str, bool]:
        limited = sorted(set(claim.type_caps) | set(grants))
        params: dict[str, Any] = {
            "tenants": tenants,
            "queue": claim.queue,
            "cursor": claim.cursor,
            "tenant_count": _tenant_count(claim),
            "max_steps": _max_steps(claim),
            "limit": claim.limit,
            "worker_id": claim.worker_id,
            "lease_seconds": claim.lease_seconds,
            "excluded_types": _array([*claim.excluded_types, *excluded]),
            "default_weight": claim.default_weight,
            "default_max_running": claim.default_max_running,
        }
        if limited or pair_grants:
            statement = self.q.positional("claim_jobs_fair")  # over psycopg's parse cache limit
            params.update(
                limited_types=_array(limited),
                type_caps=_array([claim.type_caps.get(t) for t in limited]),
                type_grants=_array([grants.get(t) for t in limited]),
                pair_types=_array([t for t, _ in pair_grants]),
                pair_tenants=_array([n for _, n in pair_grants]),
                pair_grants=_array(list(pair_grants.values())),
            )
        else:  # nothing to count per type: the cheaper statement, same choice
            statement = self.q.positional("claim_jobs_fair_open")
        raw = AsyncRawCursor(cursor.connection, row_factory=_FAIR_CLAIM_ROWS)
        await raw.execute(
            statement.text,
            statement.params(params),
            binary=True,  # rows in binary: about a fifth less CPU to read than text
        )
        rows = await raw.fetchall()
        jobs = [job for job, _ in rows if job is not None]
        next_cursor, reached_end = rows[0][1] if rows else (None, True)
        return jobs, next_cursor or "", bool(reached_end)

    async def tenant_stats(self, tenant_id: str | None, limit: int) -> list[dict[str, Any]]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.tenant_stats,
                    {"tenant_id": tenant_id, "limit": limit},
                    prepare=False,  # planned for its values: see tenant_stats.sql
                )
                return await cursor.fetchall()

    async def set_tenant_limits(
        self, tenant_id: str, weight: int, max_running: int | None
    ) -> dict[str, Any]:
        params = {"tenant_id": tenant_id, "weight": weight, "max_running": max_running}
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.set_tenant_limits, params)
                row = await cursor.fetchone()
        assert row is not None
        return row

    async def list_tenant_limits(self) -> list[dict[str, Any]]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.list_tenant_limits)
                return await cursor.fetchall()


def _pair_key(type_key: str, tenant_key: str) -> str:
    return f"type:{type_key}:tenant:{tenant_key}"


def _tenant_count(claim: FairClaim) -> int:
    return max(1, min(claim.limit, MAX_TENANTS_PER_CLAIM))


def _max_steps(claim: FairClaim) -> int:
    # Tenants whose jobs are all later are walked past; bound the probes of one statement.
    return _tenant_count(claim) * 10


def _array(values: list[Any]) -> list[Any] | str:
    """An empty list as the array literal ``{}``: psycopg inspects every list it sends to
    choose its element type, the larger part of sending this statement's parameters, and
    the fair claim has seven that are empty unless limits apply."""
    return values if values else "{}"


def _transaction_if(conn: AsyncConn, needed: bool) -> AbstractAsyncContextManager[Any]:
    return conn.transaction() if needed else nullcontext()
