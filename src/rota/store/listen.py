"""LISTEN on rota's channels with a connection of its own, reconnecting when it breaks.

A silent, half-open connection is caught by a periodic round trip; after every reconnect
``on_reconnect`` runs, because notifications sent while disconnected are lost.

Job events and outcomes are only NOTIFYed while some process announces that it listens for
them (``announce``, migration 0006): the listener writes its announcement before it LISTENs,
renews it with every round trip and withdraws it when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

from rota.errors import DatabaseError
from rota.store.db import AsyncConn, Database
from rota.store.queries import Queries

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
        announce: Sequence[str] = (),
        schema: str | None = None,
    ) -> None:
        """``announce``: the kinds of notification this listener reads that are only sent
        while announced (``events``, ``outcomes``), in ``schema``."""
        if announce and schema is None:
            raise ValueError("announcing a listener needs its schema")
        self._db = db
        self._channels = list(channels)
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._check_seconds = check_seconds
        self._announce = list(announce)
        self._announce_ids = [uuid.uuid4() for _ in self._announce]
        self.q = Queries(schema) if schema else None
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled."""
        delay = 0.1
        first = True
        while True:
            conn: AsyncConn | None = None
            try:
                conn = await self._db.connect("rota-listen")
                await self._announce_on(conn)  # before LISTEN: nothing sent after it is missed
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
                    try:
                        if self._announce and not conn.closed:
                            with contextlib.suppress(Exception):
                                async with asyncio.timeout(2):
                                    await self._withdraw_on(conn)
                    finally:  # even when cancelled again while withdrawing
                        await conn.close()

    async def _pump(self, conn: AsyncConn) -> None:
        while True:
            async for notify in conn.notifies(timeout=self._check_seconds):
                self._on_notify(notify.channel, notify.payload)
            # Quiet for a while: prove the connection still answers. asyncio.timeout, not
            # wait_for: on Python 3.11 wait_for can swallow a cancellation that arrives as
            # the probe returns, and the listener would never stop (CPython gh-86296).
            async with asyncio.timeout(self._check_seconds):
                if self._announce:
                    await self._announce_on(conn)  # the renewal is the probe
                else:
                    await conn.execute("SELECT 1")

    async def _announce_on(self, conn: AsyncConn) -> None:
        if not self._announce:
            return
        assert self.q is not None
        await conn.execute(
            self.q.announce_listener,
            {
                "ids": self._announce_ids,
                "channels": self._announce,
                # Renewed every check_seconds at the latest; three missed renewals expire it.
                "ttl_seconds": 3 * self._check_seconds + 5,
            },
        )

    async def _withdraw_on(self, conn: AsyncConn) -> None:
        assert self.q is not None
        await conn.execute(self.q.withdraw_listener, {"ids": self._announce_ids})
