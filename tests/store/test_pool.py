"""The pooled connection a caller gives back is kept for the next one (``Database.take`` and
``give``): never in a transaction, never while another caller waits for the pool, and never
past ``close()``."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg import sql

from rota.store.db import Database


async def backend_pid(db: Database) -> int:
    async with db.connection() as conn:
        return conn.info.backend_pid


async def sessions_named(postgres_url: str, name: str) -> int:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def test_consecutive_callers_share_one_session_without_a_pool_checkout(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, max_size=4)
    try:
        first = await backend_pid(db)
        pool = await db.pool()
        requests = pool.get_stats()["requests_num"]
        assert [await backend_pid(db) for _ in range(5)] == [first] * 5
        assert pool.get_stats()["requests_num"] == requests
    finally:
        await db.close()


async def test_a_caller_queued_for_the_pool_gets_the_connection_another_gives_back(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, max_size=1)  # one session: the kept one is all there is
    try:
        await backend_pid(db)  # the session is now kept out of the pool
        inside = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with db.connection() as conn:
                await conn.execute("SELECT 1")
                inside.set()
                await release.wait()

        async def queued() -> int:
            await inside.wait()
            async with db.connection() as conn:
                cursor = await conn.execute("SELECT 2 AS two")
                row = await cursor.fetchone()
                assert row is not None
                return int(row["two"])

        holding = asyncio.create_task(holder())
        waiting = asyncio.create_task(queued())
        await inside.wait()
        while not db._queued:  # the second caller is in the pool's queue
            await asyncio.sleep(0)
        release.set()
        async with asyncio.timeout(10):  # the pool's own timeout is 30 s
            assert await waiting == 2
            await holding
    finally:
        await db.close()


async def fail_inside_a_transaction(db: Database, table: str) -> None:
    async with db.connection() as conn:
        await conn.execute("BEGIN")
        await conn.execute(sql.SQL("CREATE TEMP TABLE {} (x int)").format(sql.Identifier(table)))
        raise RuntimeError("the block fails inside its transaction")


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back_first(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, max_size=1)
    table = f"left_open_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(RuntimeError):
            await fail_inside_a_transaction(db, table)
        async with db.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            cursor = await conn.execute("SELECT to_regclass(%s) AS found", (f"pg_temp.{table}",))
            row = await cursor.fetchone()
            assert row == {"found": None}
    finally:
        await db.close()


async def test_a_connection_whose_statement_was_cancelled_serves_the_next_caller(
    postgres_url: str,
) -> None:
    db = Database(postgres_url, max_size=2)
    try:
        started = asyncio.Event()
        pids: list[int] = []

        async def slow() -> None:
            async with db.connection() as conn:
                pids.append(conn.info.backend_pid)
                started.set()
                await conn.execute("SELECT pg_sleep(30)")

        task = asyncio.create_task(slow())
        await started.wait()
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as c:
            while True:  # until the server runs the statement
                cursor = await c.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pids[0],)
                )
                if await cursor.fetchone() == ("active",):
                    break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(10):
            async with db.connection() as conn:
                cursor = await conn.execute("SELECT 1 AS one")
                assert await cursor.fetchone() == {"one": 1}
                cursor = await conn.execute(
                    "SELECT count(*) AS n FROM pg_stat_activity"
                    " WHERE pid = %s AND query = %s AND state = 'active'",
                    (pids[0], "SELECT pg_sleep(30)"),
                )
                assert await cursor.fetchone() == {"n": 0}  # the sleep ended with the task
    finally:
        await db.close()


async def test_close_ends_the_kept_session(postgres_url: str) -> None:
    name = f"rota-test-{uuid.uuid4().hex[:8]}"
    db = Database(postgres_url, max_size=2, application_name=name)
    await backend_pid(db)
    assert await sessions_named(postgres_url, name) == 1
    await db.close()
    async with asyncio.timeout(10):
        while await sessions_named(postgres_url, name):  # the server ends it a moment later
            await asyncio.sleep(0.01)
