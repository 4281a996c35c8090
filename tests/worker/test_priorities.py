"""Priorities in a worker: lower numbers start first, and jobs of a later priority take the
slots the earlier one leaves free at once, not at the next poll."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import BaseModel

import rota
from tests.worker.helpers import running_worker

SLOTS = 4


class Item(BaseModel):
    n: int = 0


@pytest.mark.parametrize("drain", [False, True])
@pytest.mark.parametrize("fair", [True, False])
async def test_jobs_of_a_later_priority_fill_the_free_slots_at_once(
    fair: bool, drain: bool, make_app: Callable[..., rota.App]
) -> None:
    # No poll within the test: only the worker's own claims can start the later jobs.
    app = make_app(poll_interval_seconds=300, fair_claims=fair)
    started: list[int] = []
    all_started = asyncio.Event()
    gate = asyncio.Event()

    @app.job("p.gated", timeout=60)
    async def gated(ctx: rota.JobContext, payload: Item) -> None:
        started.append(payload.n)
        if len(started) == SLOTS:
            all_started.set()
        await gate.wait()

    await app.enqueue("p.gated", Item(n=0), tenant_id="acme", priority=0)
    for n in range(1, 10):
        await app.enqueue("p.gated", Item(n=n), tenant_id="acme", priority=5)
    if drain:  # `rota drain`: runs what is due, then returns
        draining = asyncio.create_task(app.worker(concurrency=SLOTS).drain())
        await asyncio.wait_for(all_started.wait(), timeout=20)
        gate.set()
        assert await draining == 10
    else:
        async with running_worker(app, concurrency=SLOTS):
            await asyncio.wait_for(all_started.wait(), timeout=20)
            gate.set()
    assert started[0] == 0  # the earlier priority first
    assert sorted(started[1:SLOTS]) == started[1:SLOTS]  # then in order of enqueue
    await app.close()
