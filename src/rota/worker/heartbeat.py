"""The heartbeat: a thread of its own, with a connection of its own, that renews leases.

It does not share the handlers' event loop, so a handler that blocks the loop cannot make a
live job look dead (PgQueuer #323). Leases that did not come back are reported lost; if
renewals keep failing until the lease must have run out by this process's monotonic clock,
every held job is reported lost, so its handler stops instead of running on unfenced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from uuid import UUID

from rota.errors import DatabaseError
from rota.store.db import Database, SyncConn
from rota.store.jobs import JobStore

log = logging.getLogger("rota.heartbeat")

HeldLeases = Callable[[], dict[UUID, int]]


class Heartbeat:
    def __init__(
        self,
        *,
        db: Database,
        store: JobStore,
        worker_id: UUID,
        lease_seconds: float,
        interval_seconds: float,
        held: HeldLeases,
        on_lost: Callable[[UUID, int], None],
        on_cancel_requested: Callable[[UUID], None],
    ) -> None:
        self._db = db
        self._store = store
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._interval = interval_seconds
        self._held = held
        self._on_lost = on_lost
        self._on_cancel_requested = on_cancel_requested
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rota-heartbeat", daemon=True)
        self._conn: SyncConn | None = None
        self._renewed_at: dict[UUID, float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)
        if self._conn is not None:
            self._conn.close()

    def beat_once(self) -> None:
        """One renewal of every held lease."""
        held = self._held()
        started = time.monotonic()
        for job_id in held:
            self._renewed_at.setdefault(job_id, started)
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._db.connect_sync("rota-heartbeat")
            kept = self._store.extend_leases_sync(
                self._conn,
                worker_id=self._worker_id,
                held=list(held.items()),
                lease_seconds=self._lease_seconds,
            )
        except DatabaseError as error:
            log.warning("heartbeat failed", extra={"error": error.message})
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._expire_by_local_clock(held)
            return
        for job_id, attempt in held.items():
            if job_id not in kept:
                self._renewed_at.pop(job_id, None)
                self._on_lost(job_id, attempt)
            else:
                self._renewed_at[job_id] = started
                if kept[job_id]:
                    self._on_cancel_requested(job_id)
        for job_id in list(self._renewed_at):
            if job_id not in held:
                del self._renewed_at[job_id]

    def _expire_by_local_clock(self, held: dict[UUID, int]) -> None:
        # Leave a margin of one interval: by then the database may rescue the job any moment.
        limit = self._lease_seconds - self._interval
        now = time.monotonic()
        for job_id, attempt in held.items():
            if now - self._renewed_at.get(job_id, now) > limit:
                self._on_lost(job_id, attempt)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat_once()
            except Exception:
                log.exception("heartbeat loop error")
