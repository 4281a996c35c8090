"""LISTEN on rota's channels with a connection of its own, reconnecting when it breaks.

A silent, half-open connection is caught by a periodic round trip; after every reconnect
``on_reconnect`` runs, because notifications sent while disconnected are lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

from rota.errors import DatabaseError
from rota.store.db import AsyncConn, Database

log = logging.getLogger("rota.listen")

NotifyHandler = Callable[[str, str], None]


class Listener:
    def __init__(
        self,
        db: Database,
        channels: Sequence[str],
        on_notify: NotifyHandler,
        *,
        on_reconnect: Callable[[], None] | None = None,
        check_seconds: float = 10.0,
    ) -> None:
        self._db = db
        self._channels = list(channels)
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._check_seconds = check_seconds
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled."""
        delay = 0.1
        first = True
        while True:
            conn: AsyncConn | None = None
            try:
                conn = await self._db.connect("rota-listen")
                for channel in self._channels:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self.connected.set()
                if not first:
                    log.info("listen connection restored")
                    if self._on_reconnect:
                        self._on_reconnect()
                first = False
                delay = 0.1
                await self._pump(conn)
            except (psycopg.Error, DatabaseError, OSError, TimeoutError) as error:
                self.connected.clear()
                log.warning("listen connection lost; reconnecting", extra={"error": str(error)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if conn is not None:
                    await conn.close()

    async def _pump(self, conn: AsyncConn) -> None:
        while True:
            async for notify in conn.notifies(timeout=self._check_seconds):
                self._on_notify(notify.channel, notify.payload)
            # Quiet for a while: prove the connection still answers. asyncio.timeout, not
            # wait_for: on Python 3.11 wait_for can swallow a cancellation that arrives as
            # the probe returns, and the listener would never stop (CPython gh-86296).
            async with asyncio.timeout(self._check_seconds):
                await conn.execute("SELECT 1")
