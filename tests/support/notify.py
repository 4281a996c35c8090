"""LISTEN from a test, and read rota's wake-up payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql


@asynccontextmanager
async def listening(url: str, *channels: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of its own that LISTENs on ``channels`` for the block."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for channel in channels:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        yield conn


def wake_up(payload: str) -> tuple[str, frozenset[UUID]]:
    """A wake-up's queue and the job ids it names ("queue" or "queue id,id,...")."""
    queue, _, ids = payload.partition(" ")
    return queue, frozenset(UUID(i) for i in ids.split(",")) if ids else frozenset()
