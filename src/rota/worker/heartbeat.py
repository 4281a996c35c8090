"""The heartbeat: a thread of its own, with an event loop and a connection of its own, that
renews leases.

It does not share the handlers' event loop, so a handler that blocks the loop cannot make a
live job look dead (PgQueuer #323). Leases that did not come back are reported lost. Every
renewal has a time limit, so a silent (half-open) connection cannot block it; when renewals
keep failing until a lease must have run out by this process's monotonic clock, the job is
reported lost, so its handler stops instead of running on unfenced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from uuid import UUID

from rota.errors import DatabaseError
from rota.store.db import AsyncConn, Database
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
        self._conn: AsyncConn | None = None
        self._renewed_at: dict[UUID, float] = {}
        self._retiring: set[asyncio.Task[None]] = set()  # dropped connections being closed

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 10)

    async def beat_once(self) -> None:
        """One renewal of every held lease, within one interval."""
        held = self._held()
        started = time.monotonic()
        for job_id in held:
            self._renewed_at.setdefault(job_id, started)
        renewal = asyncio.create_task(self._renew(held))
        await asyncio.wait({renewal}, timeout=self._interval)
        if not renewal.done():
            # No answer in time (a silent, half-open connection). Not cancelled: cancelling
            # a query makes psycopg send a cancel request over a new connection, which a
            # partition would swallow too. The connection is dropped instead, which ends it.
            log.warning("heartbeat failed", extra={"error": "no answer in time"})
            self._drop_connection(renewal)
            self._expire_by_local_clock(held)
            return
        try:
            kept = renewal.result()
        except DatabaseError as error:
            log.warning("heartbeat failed", extra={"error": error.message})
            self._drop_connection(renewal)
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

    async def _renew(self, held: dict[UUID, int]) -> dict[UUID, bool]:
        conn = self._conn
        if conn is None or conn.closed:
            # A renewal that has no answer within the interval is abandoned with its
            # connection; the server gives up any lock wait (a migration's, say) at half the
            # interval, so no abandoned session is left waiting behind it.
            lock_timeout = f"{max(1, int(self._interval * 500))}ms"
            conn = await self._db.connect("rota-heartbeat", session={"lock_timeout": lock_timeout})
            if self._conn is None or self._conn.closed:
                self._conn = conn
            else:
                # This renewal ran out of time while connecting, and a later one connected
                # first: keep that connection, not two.
                await conn.close()
                conn = self._conn
        return await self._store.extend_leases(
            conn,
            worker_id=self._worker_id,
            held=list(held.items()),
            lease_seconds=self._lease_seconds,
        )

    def _drop_connection(self, renewal: asyncio.Task[dict[UUID, bool]]) -> None:
        """Stop using the connection; the next renewal opens a new one.

        A renewal may still be waiting on it. Its socket is shut down, not closed: the
        waiting renewal wakes and fails at once, and libpq's connection stays valid until it
        is closed, after that renewal has ended. (Freeing the connection under the waiting
        renewal, as ``pgconn.finish()`` did, let psycopg resume it on freed memory: the
        worker process crashed.)"""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception), socket.socket(fileno=os.dup(conn.pgconn.socket)) as s:
            s.shutdown(socket.SHUT_RDWR)
        retiring = asyncio.create_task(self._close_after(conn, renewal))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    @staticmethod
    async def _close_after(conn: AsyncConn, renewal: asyncio.Task[dict[UUID, bool]]) -> None:
        with contextlib.suppress(BaseException):
            await renewal  # its error was reported (or timed out) in beat_once
        with contextlib.suppress(Exception):
            await conn.close()

    def _expire_by_local_clock(self, held: dict[UUID, int]) -> None:
        # Leave a margin of one interval: by then the database may rescue the job any moment.
        limit = self._lease_seconds - self._interval
        now = time.monotonic()
        for job_id, attempt in held.items():
            if now - self._renewed_at.get(job_id, now) > limit:
                self._on_lost(job_id, attempt)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            while not await asyncio.to_thread(self._stop.wait, self._interval):
                try:
                    await self.beat_once()
                except Exception:
                    log.exception("heartbeat loop error")
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the connection, and those dropped earlier once their renewals have ended
        (at once: their sockets were shut down)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        if self._retiring:
            await asyncio.wait(set(self._retiring), timeout=self._interval)
