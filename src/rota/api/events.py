"""One LISTEN connection per API process feeding every live event stream it serves.

Statements that write job events send a NOTIFY naming their jobs ('*' for large batches);
the hub wakes the streams of those jobs, which then read their new events from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from uuid import UUID

from rota.core.loops import stop_tasks, wait_event
from rota.store.db import Database
from rota.store.listen import Listener


class EventHub:
    def __init__(self, db: Database, schema: str) -> None:
        self._listener = Listener(
            db,
            [f"{schema}.events"],
            self._on_notify,
            on_reconnect=self._wake_all,
            announce=["events"],
            schema=schema,
        )
        self._waiters: dict[UUID, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listener.run(), name="rota-event-hub")
            await wait_event(self._listener.connected, 5)

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks(self._task)
            self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: UUID) -> AsyncIterator[asyncio.Event]:
        await self.start()
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            self._waiters[job_id].discard(event)
            if not self._waiters[job_id]:
                del self._waiters[job_id]

    def _on_notify(self, _channel: str, payload: str) -> None:
        if payload == "*":
            self._wake_all()
            return
        for text in payload.split(","):
            with contextlib.suppress(ValueError):
                for event in self._waiters.get(UUID(text), ()):
                    event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()
