"""Enqueue under contention and at its limits: racing idempotency keys, the payload cap
(issue 6)."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

import rota
from tests.faults.harness import Conn, rows, scalar
from tests.faults.invariants import assert_invariants

pytestmark = pytest.mark.faults

KEYS = [f"key-{n}" for n in range(100)]


async def _noop(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
    pass


async def test_fifty_enqueuers_racing_on_a_hundred_keys_make_one_job_per_key(
    make_app: Callable[..., rota.App], conn: Conn
) -> None:
    clients = [make_app() for _ in range(5)]
    for client in clients:
        client.job("f.noop")(_noop)
    got: dict[tuple[str, str], set[UUID]] = defaultdict(set)
    created: Counter[tuple[str, str]] = Counter()
    go = asyncio.Event()

    async def enqueuer(n: int) -> None:
        client, rng = clients[n % len(clients)], random.Random(n)
        tenant = "acme" if n % 2 else "globex"  # the same keys in two tenants
        await go.wait()
        for key in rng.sample(KEYS, 40):
            job = await client.enqueue(
                "f.noop", {"key": key}, tenant_id=tenant, idempotency_key=key
            )
            got[(tenant, key)].add(job.id)
            created[(tenant, key)] += job.created

    tasks = [asyncio.create_task(enqueuer(n)) for n in range(50)]
    go.set()  # all at once
    await asyncio.gather(*tasks)

    stored = {
        (tenant, key): job_id
        for tenant, key, job_id in await rows(
            conn, "SELECT tenant_id, idempotency_key, id FROM jobs"
        )
    }
    assert len(stored) == 200 == await scalar(conn, "SELECT count(*) FROM jobs")
    assert set(got) == set(stored)  # every key of both tenants was raced on
    for pair, ids in got.items():
        assert ids == {stored[pair]}, pair  # every caller got the one job's id
        assert created[pair] == 1, pair  # and exactly one of them created it

    # The same keys with another payload now: a conflict for every caller, nothing written.
    async def conflicting(key: str) -> type[BaseException] | None:
        try:
            await clients[0].enqueue(
                "f.noop", {"key": key, "other": True}, tenant_id="acme", idempotency_key=key
            )
        except rota.IdempotencyConflict as error:
            return type(error)
        return None

    outcomes = await asyncio.gather(*(conflicting(key) for key in KEYS))
    assert outcomes == [rota.IdempotencyConflict] * len(KEYS)
    assert await scalar(conn, "SELECT count(*) FROM jobs") == 200
    payloads = await rows(conn, "SELECT idempotency_key, payload FROM jobs")
    assert all(payload == {"key": key} for key, payload in payloads)
    await assert_invariants(conn, acked=list(stored.values()))
    for client in clients:
        await client.close()


def _encoded_size(payload: dict[str, Any]) -> int:
    """The size rota caps: compact JSON, non-ASCII kept as is, counted in UTF-8 bytes."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def _padded(size: int, wide: int) -> dict[str, Any]:
    """A payload of exactly ``size`` bytes holding ``wide`` two-byte characters."""
    overhead = _encoded_size({"pad": ""})
    return {"pad": "é" * wide + "x" * (size - overhead - 2 * wide)}


@pytest.mark.parametrize("cap", [1000, 64 * 1024])
async def test_a_payload_at_the_cap_runs_and_one_byte_over_is_rejected_without_a_write(
    make_app: Callable[..., rota.App], conn: Conn, cap: int
) -> None:
    app = make_app(payload_max_bytes=cap)

    @app.job("f.echo")
    async def echo(ctx: rota.JobContext, payload: dict[str, Any]) -> dict[str, int]:
        return {"chars": len(payload["pad"])}

    at_cap, over = _padded(cap, wide=100), _padded(cap + 1, wide=101)
    # Same number of characters: only the byte count tells them apart.
    assert len(at_cap["pad"]) == len(over["pad"])
    assert (_encoded_size(at_cap), _encoded_size(over)) == (cap, cap + 1)

    job = await app.enqueue("f.echo", at_cap, tenant_id="acme")
    with pytest.raises(rota.PayloadTooLarge):
        await app.enqueue("f.echo", over, tenant_id="acme")
    with pytest.raises(rota.PayloadTooLarge):  # one bad job rejects its whole batch
        await app.enqueue_many(
            [
                rota.JobRequest("f.echo", at_cap, tenant_id="acme"),
                rota.JobRequest("f.echo", over, tenant_id="acme"),
            ]
        )
    with pytest.raises(rota.PayloadTooLarge):
        await asyncio.to_thread(app.enqueue_sync, "f.echo", over, tenant_id="acme")
    assert await rows(conn, "SELECT id FROM jobs") == [(job.id,)]

    assert await app.worker().drain() == 1
    done = await app.get_job(job.id)
    assert done.status is rota.JobStatus.SUCCEEDED
    assert done.payload == at_cap
    assert done.result == {"chars": len(at_cap["pad"])}
    await assert_invariants(conn, acked=[job.id])
    await app.close()
