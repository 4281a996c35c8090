"""The application the soak run's worker processes run (``rota bench soak``).

``soak.work`` sleeps a little, then applies its effect idempotently: under a transaction
advisory lock on its key it inserts a row into ``soak_effects`` unless one exists. A job
that runs again (at-least-once) finds its effect and does not apply it twice.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel

import rota

app = rota.App()

EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.soak_effects (
    key text NOT NULL, job_id uuid NOT NULL, attempt integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
)
"""


class SoakWork(BaseModel):
    key: str
    max_sleep_ms: int = 50


async def work(ctx: rota.JobContext, payload: SoakWork) -> dict[str, Any]:
    await asyncio.sleep(random.uniform(0, payload.max_sleep_ms) / 1000)
    schema = sql.Identifier(app.settings.schema_name)
    connect = psycopg.AsyncConnection.connect(app.database_url())
    async with await connect as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (payload.key,))
        cursor = await conn.execute(
            sql.SQL(
                "INSERT INTO {}.soak_effects (key, job_id, attempt) "
                "SELECT %s, %s, %s WHERE NOT EXISTS "
                "(SELECT 1 FROM {}.soak_effects WHERE key = %s)"
            ).format(schema, schema),
            (payload.key, ctx.job_id, ctx.attempt, payload.key),
        )
    return {"applied": cursor.rowcount == 1}


def declare(target: rota.App) -> rota.App:
    """The soak job type on ``target`` (the workers' app, or the enqueuing side's)."""
    target.job("soak.work", max_attempts=25, timeout=30)(work)
    return target


declare(app)
