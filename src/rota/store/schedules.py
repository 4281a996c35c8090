"""ScheduleStore: system schedule ticks and tenants' schedules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from rota.core.job import NewJob
from rota.core.tenancy import Scope
from rota.errors import NotFound
from rota.store.db import AsyncConn, Database
from rota.store.jobs import JobStore, translated
from rota.store.queries import Queries


class ScheduleStore:
    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.q = Queries(schema)
        self.jobs = JobStore(db, schema)

    # -- system schedules --------------------------------------------------------------------

    async def last_ticks(self, keys: list[str]) -> tuple[dict[str, datetime | None], datetime]:
        """The latest recorded tick per schedule key, and the database's clock."""
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.last_ticks, {"schedule_keys": keys})
                rows = await cursor.fetchall()
                if not rows:
                    cursor = await conn.execute(self.q.database_now)
                    row = await cursor.fetchone()
                    assert row is not None
                    return {}, row["now"]
        return {r["schedule_key"]: r["last_tick_at"] for r in rows}, rows[0]["now"]

    async def record_tick(self, key: str, tick_at: datetime, job: NewJob) -> bool:
        """Insert the tick and its job; False when another scheduler had fired it."""
        params = {
            "schedule_key": key,
            "tick_at": tick_at,
            "job_id": job.id,
            "type": job.type,
            "queue": job.queue,
            "payload": job.payload_json,
            "priority": job.priority,
            "max_attempts": job.max_attempts,
            "trace_id": job.trace_id,
            "jobs_channel": self.jobs.channels.jobs,
        }
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.record_tick, params)
                return await cursor.fetchone() is not None

    async def prune_ticks(self, older_than_seconds: float) -> int:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.prune_ticks, {"older_than_seconds": older_than_seconds}
                )
                return len(await cursor.fetchall())

    # -- user schedules: the scheduler's side ------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConn]:
        with translated():
            async with self.db.connection() as conn, conn.transaction():
                yield conn

    async def claim_due_schedules(self, conn: AsyncConn, limit: int) -> list[dict[str, Any]]:
        with translated():
            cursor = await conn.execute(self.q.claim_due_schedules, {"limit": limit})
            return await cursor.fetchall()

    async def advance_schedule(
        self, conn: AsyncConn, schedule_id: UUID, job_id: UUID | None, next_run_at: datetime
    ) -> None:
        params = {"id": schedule_id, "job_id": job_id, "next_run_at": next_run_at}
        with translated():
            await conn.execute(self.q.advance_schedule, params)

    async def database_now(self) -> datetime:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.database_now)
                row = await cursor.fetchone()
        assert row is not None
        now: datetime = row["now"]
        return now

    # -- user schedules: management ----------------------------------------------------------

    async def insert_schedule(self, values: dict[str, Any]) -> dict[str, Any]:
        params = {**values, "payload": json.dumps(values["payload"])}
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.insert_schedule, params)
                row = await cursor.fetchone()
        assert row is not None
        return row

    async def get_schedule(self, schedule_id: UUID, scope: Scope) -> dict[str, Any]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.get_schedule, {"id": schedule_id, **scope.params()}
                )
                row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return row

    async def list_schedules(self, scope: Scope, limit: int = 200) -> list[dict[str, Any]]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.list_schedules,
                    {"limit": limit, **scope.params()},
                    prepare=False,  # planned for its values: see list_schedules.sql
                )
                return await cursor.fetchall()

    async def update_schedule(
        self, schedule_id: UUID, scope: Scope, values: dict[str, Any]
    ) -> dict[str, Any]:
        params = {
            **values,
            "payload": json.dumps(values["payload"]),
            "id": schedule_id,
            **scope.params(),
        }
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(self.q.update_schedule, params)
                row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
        return row

    async def delete_schedule(self, schedule_id: UUID, scope: Scope) -> None:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.delete_schedule, {"id": schedule_id, **scope.params()}
                )
                row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"schedule {schedule_id} not found")
