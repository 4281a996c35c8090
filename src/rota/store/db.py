"""Connections: the async pool, the synchronous pool, one-off connections, and
caller-supplied connections."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from json.scanner import make_scanner
from time import monotonic
from typing import Any, LiteralString

import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format, TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from rota.store.errors import translate

APPLICATION_NAME = "rota"

AsyncConn = psycopg.AsyncConnection[dict[str, Any]]
SyncConn = psycopg.Connection[dict[str, Any]]


def connect_kwargs(application_name: str = APPLICATION_NAME) -> dict[str, Any]:
    return {
        "autocommit": True,
        "row_factory": dict_row,
        "application_name": application_name,
        "connect_timeout": 10,
    }


# Server settings for every rota session. JIT off: rota's statements are short, and once a
# table holds a million rows the planner's cost estimates pass jit_above_cost and each run of
# the fair claim's generic plan spent about 100 ms compiling (3 ms with JIT off).
# TimeZone UTC: every timestamp rota reads is an instant, and psycopg makes an aware datetime
# in the session's time zone. With datetime.timezone.utc that takes about a third of the time
# it takes with a ZoneInfo (0.23 against 0.64 us a value; a claimed job has four).
SESSION_SETTINGS: Mapping[str, str] = {"jit": "off", "TimeZone": "UTC"}


_JSON = json.JSONDecoder()
# The decoder's C scanner, called without ``raw_decode``'s Python frame around it. (The type
# stubs name make_scanner's argument wrongly: it takes the decoder.)
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_JSON)  # type: ignore[arg-type]


def _load_json(data: bytes | str) -> Any:
    """``json.loads`` for the text of a json or jsonb value, without its per-call checks: the
    decoder's scanner reads the value straight away, and anything it does not read to the end
    (leading or trailing white space, which only ``json`` values keep; text that is not JSON)
    goes to ``json.loads``, which raises json's own error for the latter."""
    text = data.decode() if isinstance(data, bytes) else data
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


class _JsonbBinaryLoader(Loader):
    """jsonb in binary format, which the claims read every payload in: a version byte, then
    the value's text, handed to ``_load_json`` as text. psycopg's own binary loader first
    copies the value to ``bytes``, then calls the function set by ``set_json_loads``."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Any:
        if not data or data[0] != 1:
            raise psycopg.DataError("unknown jsonb binary format")
        return _load_json(str(data[1:], "utf-8"))


def _set_json_loaders(conn: AsyncConn | SyncConn) -> None:
    set_json_loads(_load_json, conn)
    conn.adapters.register_loader("jsonb", _JsonbBinaryLoader)


async def configure(conn: AsyncConn, extra: Mapping[str, str] | None = None) -> None:
    """Apply ``SESSION_SETTINGS`` (and ``extra``) to a new session, without touching the
    ``options`` a user's connection string may carry. JSON is read with ``_load_json`` (and
    binary jsonb with ``_JsonbBinaryLoader``) on rota's connections only: other code in the
    process keeps psycopg's default."""
    _set_json_loaders(conn)
    statement, params = _settings_statement({**SESSION_SETTINGS, **(extra or {})})
    await conn.execute(statement, params)


def configure_sync(conn: SyncConn) -> None:
    """``configure`` for a synchronous connection."""
    _set_json_loaders(conn)
    statement, params = _settings_statement(SESSION_SETTINGS)
    conn.execute(statement, params)


def _settings_statement(settings: Mapping[str, str]) -> tuple[LiteralString, list[str]]:
    """One statement (one round trip) that applies ``settings`` to the session."""
    calls = ", ".join(["set_config(%s, %s, false)"] * len(settings))
    return "SELECT " + calls, [part for pair in settings.items() for part in pair]


# Synchronous pools a forked child inherited from its parent. Their connections are the
# parent's sessions: the child never uses them, and never closes them either (closing would
# end the parent's sessions), so they are kept here instead of being collected.
_INHERITED_POOLS: list[ConnectionPool[Any]] = []

# How long ``Database.give`` may keep a connection out of its pool between two returns.
_KEEP_SECONDS = 60.0


class OwnConnection:
    """One connection outside the pool for a loop that runs one statement at a time (the
    claims, the completions): no pool checkout per statement. Opened on first use; any error
    inside ``use()`` closes it, and the next use opens a new one."""

    def __init__(
        self, db: Database, application_name: str, session: Mapping[str, str] | None = None
    ) -> None:
        self._db = db
        self._application_name = application_name
        self._session = session
        self._conn: AsyncConn | None = None

    @asynccontextmanager
    async def use(self) -> AsyncIterator[AsyncConn]:
        if self._conn is None or self._conn.closed:
            self._conn = await self._db.connect(self._application_name, session=self._session)
        try:
            yield self._conn
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class Database:
    """An async connection pool opened on first use, and a synchronous one for synchronous
    callers (``enqueue_sync``), also opened on first use. Statements run in autocommit: each
    is its own transaction unless the caller opens one."""

    def __init__(self, url: str, *, max_size: int, application_name: str = APPLICATION_NAME):
        self.url = url
        self._application_name = application_name
        self._max_size = max_size
        self._pool: AsyncConnectionPool[AsyncConn] | None = None
        # The last pooled connection given back, kept checked out for the next caller
        # (``take``/``give``), and how many callers wait in the pool's queue meanwhile.
        self._idle: tuple[AsyncConn, AsyncConnectionPool[AsyncConn]] | None = None
        self._queued = 0
        self._keep_until = 0.0
        self._sync_pool: ConnectionPool[SyncConn] | None = None
        self._sync_pid = 0  # the process that opened the synchronous pool
        self._sync_lock = threading.Lock()

    def _sizes(self) -> dict[str, Any]:
        """What both pools share: one session kept open, at most ``max_size``, rota's
        connection settings; opened by the caller (``open`` with a timeout)."""
        return {
            "min_size": 1,
            "max_size": self._max_size,
            "kwargs": connect_kwargs(self._application_name),
            "open": False,
        }

    async def pool(self) -> AsyncConnectionPool[AsyncConn]:
        if self._pool is None:
            pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
                self.url, configure=configure, name=self._application_name, **self._sizes()
            )
            try:
                await pool.open(wait=True, timeout=15)
            except Exception as error:
                await pool.close()
                raise translate(psycopg.OperationalError(str(error))) from None
            self._pool = pool
            self._keep_until = monotonic() + _KEEP_SECONDS
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        """A pooled connection for the block (``take`` and ``give``)."""
        conn, pool = await self.take()
        try:
            yield conn
        finally:
            await self.give(conn, pool)

    async def take(self) -> tuple[AsyncConn, AsyncConnectionPool[AsyncConn]]:
        """A pooled connection and its pool, to be handed to ``give`` when done.

        The last connection given back in a clean state is kept checked out for the next
        caller instead of going through the pool: its ``getconn`` and ``putconn`` cost about
        45,000 instructions a pair, 15% of a single ``enqueue``. It is still the pool's
        connection (the pool's size counts it): it goes back to the pool when it is left
        inside a transaction, broken or closed, when a caller is queued for the pool, when
        the pool closes, and at least once a minute, so the pool's own rules (its lifetime,
        its reset of a dirty session) still apply to it. Not ``pool.connection()``: that
        also enters the connection's own context, whose commit on exit costs as much again
        and has nothing to do here, since rota's connections are in autocommit and every
        transaction is closed by its own block."""
        idle = self._idle
        if idle is not None:
            self._idle = None
            return idle
        pool = self._pool or await self.pool()
        self._queued += 1
        try:
            return await pool.getconn(), pool
        finally:
            self._queued -= 1

    async def give(self, conn: AsyncConn, pool: AsyncConnectionPool[AsyncConn]) -> None:
        """Give back what ``take`` returned: kept for the next caller when it can be (see
        ``take``), otherwise returned to its pool."""
        now = monotonic()
        if (
            self._idle is None
            and not self._queued
            and pool is self._pool
            and now < self._keep_until
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
        ):
            self._idle = (conn, pool)
            return
        if now >= self._keep_until:
            self._keep_until = now + _KEEP_SECONDS
        await pool.putconn(conn)

    async def connect(
        self, application_name: str | None = None, *, session: Mapping[str, str] | None = None
    ) -> AsyncConn:
        """A connection of its own, outside the pool (LISTEN, long-lived loops); ``session``
        holds server settings for this session on top of rota's own (``configure``)."""
        kwargs = connect_kwargs(application_name or self._application_name)
        conn: AsyncConn | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, **kwargs)
            await configure(conn, session)
            return conn
        except psycopg.Error as error:
            if conn is not None:
                await conn.close()
            raise translate(error) from None

    def connect_sync(self, application_name: str | None = None) -> SyncConn:
        """A synchronous connection of its own, outside the pools (migrations)."""
        conn: SyncConn | None = None
        try:
            conn = psycopg.Connection.connect(
                self.url, **connect_kwargs(application_name or self._application_name)
            )
            configure_sync(conn)
            return conn
        except psycopg.Error as error:
            if conn is not None:
                conn.close()
            raise translate(error) from None

    @contextmanager
    def connection_sync(self) -> Iterator[SyncConn]:
        """A connection of the synchronous pool for the block, from any thread. Connecting
        costs more than the statement it would serve (about 10 ms against 0.6 ms for one
        enqueue), so sessions are kept between calls, as the async pool keeps its own."""
        pool = self._sync_pool
        if pool is None or self._sync_pid != os.getpid():
            pool = self._open_sync_pool()
        try:
            conn = pool.getconn()
        except psycopg.Error as error:
            raise translate(error) from None
        try:
            yield conn
        finally:
            pool.putconn(conn)

    def _open_sync_pool(self) -> ConnectionPool[SyncConn]:
        with self._sync_lock:
            if self._sync_pool is not None and self._sync_pid == os.getpid():
                return self._sync_pool  # another thread opened it meanwhile
            if self._sync_pool is not None:  # opened by the parent of this forked process
                _INHERITED_POOLS.append(self._sync_pool)
                self._sync_pool = None
            pool: ConnectionPool[SyncConn] = ConnectionPool(
                self.url,
                configure=configure_sync,
                name=f"{self._application_name}-sync",
                **self._sizes(),
            )
            try:
                pool.open(wait=True, timeout=15)
            except Exception as error:
                pool.close()
                raise translate(psycopg.OperationalError(str(error))) from None
            self._sync_pool, self._sync_pid = pool, os.getpid()
            return pool

    async def close(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            await idle[1].putconn(idle[0])
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        sync_pool, self._sync_pool = self._sync_pool, None
        if sync_pool is not None and self._sync_pid == os.getpid():
            await asyncio.to_thread(sync_pool.close)
