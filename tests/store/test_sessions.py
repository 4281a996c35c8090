"""Every session rota opens runs with JIT off (pooled, own and synchronous connections), the
claim connection adds its generic plans, and settings in the user's URL survive."""

from __future__ import annotations

from typing import Literal

from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from rota.store.db import AsyncConn, Database


def with_options(url: str, options: str) -> str:
    return make_conninfo(url, options=options) if "options" not in conninfo_to_dict(url) else url


async def show(
    conn: AsyncConn, name: Literal["jit", "plan_cache_mode", "statement_timeout"]
) -> str:
    cursor = await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
    row = await cursor.fetchone()
    assert row is not None
    return str(row[name])


async def test_pooled_and_own_connections_run_without_jit_and_keep_the_urls_settings(
    postgres_url: str,
) -> None:
    db = Database(with_options(postgres_url, "-c statement_timeout=12345"), max_size=2)
    try:
        async with db.connection() as pooled:
            assert await show(pooled, "jit") == "off"
            assert await show(pooled, "statement_timeout") == "12345ms"
        own = await db.connect("rota-test", session={"plan_cache_mode": "force_generic_plan"})
        try:
            assert await show(own, "jit") == "off"
            assert await show(own, "plan_cache_mode") == "force_generic_plan"
            assert await show(own, "statement_timeout") == "12345ms"
        finally:
            await own.close()
        with db.connect_sync() as sync:
            row = sync.execute("SHOW jit").fetchone()
            assert row == {"jit": "off"}
    finally:
        await db.close()
