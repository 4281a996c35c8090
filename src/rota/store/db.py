"""Connections: the async pool, one-off connections, and caller-supplied connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

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


class Database:
    """An async connection pool opened on first use. Statements run in autocommit: each is
    its own transaction unless the caller opens one."""

    def __init__(self, url: str, *, max_size: int, application_name: str = APPLICATION_NAME):
        self.url = url
        self._application_name = application_name
        self._max_size = max_size
        self._pool: AsyncConnectionPool[AsyncConn] | None = None

    async def pool(self) -> AsyncConnectionPool[AsyncConn]:
        if self._pool is None:
            pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=self._max_size,
                kwargs=connect_kwargs(self._application_name),
                open=False,
                name=self._application_name,
            )
            try:
                await pool.open(wait=True, timeout=15)
            except Exception as error:
                await pool.close()
                raise translate(psycopg.OperationalError(str(error))) from None
            self._pool = pool
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        pool = await self.pool()
        async with pool.connection() as conn:
            yield conn

    async def connect(
        self, application_name: str | None = None, *, options: str | None = None
    ) -> AsyncConn:
        """A connection of its own, outside the pool (LISTEN, long-lived loops); ``options``
        are server settings for this session (``-c name=value``)."""
        kwargs = connect_kwargs(application_name or self._application_name)
        if options:
            kwargs["options"] = options
        try:
            return await psycopg.AsyncConnection.connect(self.url, **kwargs)
        except psycopg.Error as error:
            raise translate(error) from None

    def connect_sync(self, application_name: str | None = None) -> SyncConn:
        try:
            return psycopg.Connection.connect(
                self.url, **connect_kwargs(application_name or self._application_name)
            )
        except psycopg.Error as error:
            raise translate(error) from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
