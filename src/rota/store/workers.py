"""WorkerStore: the workers table (registration, goodbye, listing, pruning)."""

from __future__ import annotations

import os
import socket
from typing import Any
from uuid import UUID

from rota.store.db import Database
from rota.store.jobs import translated
from rota.store.queries import Queries


class WorkerStore:
    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.q = Queries(schema)

    async def register_worker(self, worker_id: UUID, queues: list[str], concurrency: int) -> None:
        params = {
            "id": worker_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": queues,
            "concurrency": concurrency,
        }
        with translated():
            async with self.db.connection() as conn:
                await conn.execute(self.q.register_worker, params)

    async def stop_worker(self, worker_id: UUID) -> None:
        with translated():
            async with self.db.connection() as conn:
                await conn.execute(self.q.stop_worker, {"id": worker_id})

    async def prune_workers(self, older_than_seconds: float) -> int:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.prune_workers, {"older_than_seconds": older_than_seconds}
                )
                return len(await cursor.fetchall())

    async def list_workers(self, seen_within_seconds: float) -> list[dict[str, Any]]:
        with translated():
            async with self.db.connection() as conn:
                cursor = await conn.execute(
                    self.q.list_workers, {"seen_within_seconds": seen_within_seconds}
                )
                return await cursor.fetchall()
