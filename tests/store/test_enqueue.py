"""Enqueue against a real PostgreSQL: envelope, validation, idempotency, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from pydantic import BaseModel

import rota

Conn = psycopg.AsyncConnection[Any]


class Invoice(BaseModel):
    invoice_id: str
    amount: int


def build(make_app: Callable[..., rota.App], **settings: Any) -> rota.App:
    app = make_app(**settings)

    @app.job("billing.invoice")
    async def invoice(ctx: rota.JobContext, payload: Invoice) -> None:
        return None

    @app.job("storage.cleanup", system=True)
    async def cleanup(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        return None

    return app


async def count_jobs(db: Conn) -> int:
    row = await (await db.execute("SELECT count(*) AS n FROM jobs")).fetchone()
    assert row is not None
    return int(row["n"])


async def test_enqueue_stores_the_envelope(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = build(make_app)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    job = await app.enqueue(
        "billing.invoice",
        Invoice(invoice_id="i1", amount=5),
        tenant_id="acme",
        actor_id="user_1",
        traceparent=traceparent,
        request_id="req-1",
        correlation_id="corr-1",
    )
    row = await (await db.execute("SELECT * FROM jobs WHERE id = %s", (job.id,))).fetchone()
    assert row is not None
    assert row["status"] == "queued"
    assert row["tenant_id"] == "acme"
    assert row["actor_id"] == "user_1"
    assert row["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" == job.trace_id
    assert row["traceparent"] == traceparent
    assert (row["request_id"], row["correlation_id"]) == ("req-1", "corr-1")
    assert row["payload"] == {"invoice_id": "i1", "amount": 5}
    assert row["attempt"] == 0
    await app.close()


async def test_a_trace_id_is_generated_when_none_is_given(
    make_app: Callable[..., rota.App],
) -> None:
    app = build(make_app)
    job = await app.enqueue("billing.invoice", {"invoice_id": "i", "amount": 1}, tenant_id="a")
    assert job.trace_id is not None
    assert len(job.trace_id) == 32
    await app.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"type": "no.such.type", "payload": {}, "tenant_id": "acme"}, rota.UnknownJobType),
        (
            {"type": "billing.invoice", "payload": {"invoice_id": "x", "amount": 1}},
            rota.TenantRequired,
        ),
        (
            {"type": "billing.invoice", "payload": {"invoice_id": "x"}, "tenant_id": "acme"},
            rota.InvalidPayload,
        ),
        ({"type": "storage.cleanup", "payload": {}, "tenant_id": "acme"}, rota.TenantRequired),
        (
            {
                "type": "billing.invoice",
                "payload": {"invoice_id": "x" * 300, "amount": 1},
                "tenant_id": "acme",
            },
            rota.PayloadTooLarge,
        ),
    ],
)
async def test_bad_input_is_rejected_and_writes_nothing(
    make_app: Callable[..., rota.App], db: Conn, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    app = build(make_app, payload_max_bytes=256)
    job_type = kwargs.pop("type")
    with pytest.raises(error):
        await app.enqueue(job_type, **kwargs)
    assert await count_jobs(db) == 0
    await app.close()


async def test_system_jobs_need_no_tenant(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = build(make_app)
    job = await app.enqueue("storage.cleanup", {})
    assert job.tenant_id is None
    assert await count_jobs(db) == 1
    await app.close()


async def test_concurrent_enqueuers_with_one_key_get_one_job(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    apps = [build(make_app) for _ in range(4)]
    payload = {"invoice_id": "i-42", "amount": 42}

    async def enqueue(index: int) -> rota.EnqueuedJob:
        return await apps[index % 4].enqueue(
            "billing.invoice", payload, tenant_id="acme", idempotency_key="invoice-i-42"
        )

    results = await asyncio.gather(*(enqueue(i) for i in range(20)))
    assert len({r.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await count_jobs(db) == 1
    for app in apps:
        await app.close()


async def test_same_key_with_a_different_payload_is_a_conflict(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    first = await app.enqueue(
        "billing.invoice",
        {"invoice_id": "i", "amount": 1},
        tenant_id="acme",
        idempotency_key="k",
    )
    with pytest.raises(rota.IdempotencyConflict) as caught:
        await app.enqueue(
            "billing.invoice",
            {"invoice_id": "i", "amount": 2},
            tenant_id="acme",
            idempotency_key="k",
        )
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.details["job_id"] == str(first.id)
    assert await count_jobs(db) == 1
    await app.close()


async def test_idempotency_keys_are_scoped_by_tenant(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    payload = {"invoice_id": "i", "amount": 1}
    a = await app.enqueue("billing.invoice", payload, tenant_id="a", idempotency_key="k")
    b = await app.enqueue("billing.invoice", payload, tenant_id="b", idempotency_key="k")
    assert a.id != b.id
    assert await count_jobs(db) == 2
    await app.close()


async def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(
    make_app: Callable[..., rota.App], postgres_url: str, db: Conn
) -> None:
    app = build(make_app)
    async with await psycopg.AsyncConnection.connect(postgres_url, row_factory=dict_row) as conn:
        job = await app.enqueue(
            "billing.invoice",
            {"invoice_id": "i", "amount": 1},
            tenant_id="acme",
            connection=conn,
        )
        await conn.rollback()
    assert await count_jobs(db) == 0
    with pytest.raises(rota.NotFound):
        await app.get_job(job.id)
    await app.close()


async def test_enqueue_in_a_committed_transaction_is_kept(
    make_app: Callable[..., rota.App], postgres_url: str, db: Conn
) -> None:
    app = build(make_app)
    connect = psycopg.AsyncConnection.connect(postgres_url, row_factory=dict_row)
    async with await connect as conn, conn.transaction():
        job = await app.enqueue(
            "billing.invoice",
            {"invoice_id": "i", "amount": 1},
            tenant_id="acme",
            connection=conn,
        )
        # Not visible to others before the caller commits.
        assert await count_jobs(db) == 0
    assert (await app.get_job(job.id)).status is rota.JobStatus.QUEUED
    await app.close()


def test_enqueue_sync_with_and_without_a_connection(
    make_app: Callable[..., rota.App], postgres_url: str
) -> None:
    app = build(make_app)
    first = app.enqueue_sync("billing.invoice", {"invoice_id": "a", "amount": 1}, tenant_id="t")
    with psycopg.connect(postgres_url, row_factory=dict_row) as conn:
        second = app.enqueue_sync(
            "billing.invoice", {"invoice_id": "b", "amount": 1}, tenant_id="t", connection=conn
        )
        conn.rollback()
    with psycopg.connect(postgres_url) as conn:
        ids = {r[0] for r in conn.execute(f"SELECT id FROM {app.settings.schema_name}.jobs")}
    assert ids == {first.id}
    assert second.id not in ids
    asyncio.run(app.close())


def _enqueue_sessions(postgres_url: str, schema: str) -> int:
    """Open sessions whose last statement was an enqueue into ``schema``."""
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE %s",
            (f'%INSERT INTO "{schema}".jobs%',),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _stored_jobs(postgres_url: str, schema: str) -> int:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{schema}".jobs').fetchone()
    assert row is not None
    return int(row[0])


def test_enqueue_sync_keeps_its_session_between_calls(
    make_app: Callable[..., rota.App], postgres_url: str
) -> None:
    """A synchronous caller (a web request handler, a script) does not connect per job."""
    app = build(make_app)
    schema = app.settings.schema_name
    jobs = [
        app.enqueue_sync("billing.invoice", {"invoice_id": str(i), "amount": i}, tenant_id="t")
        for i in range(5)
    ]
    assert len({job.id for job in jobs}) == 5
    # One session did all five and is still open for the next call.
    assert _enqueue_sessions(postgres_url, schema) == 1
    asyncio.run(app.close())
    assert _stored_jobs(postgres_url, schema) == 5


def test_enqueue_sync_from_many_threads_stores_every_job(
    make_app: Callable[..., rota.App], postgres_url: str
) -> None:
    app = build(make_app, pool_max_size=3)
    schema = app.settings.schema_name

    def enqueue(thread: int) -> list[rota.EnqueuedJob]:
        return [
            app.enqueue_sync(
                "billing.invoice", {"invoice_id": f"{thread}-{i}", "amount": i}, tenant_id="t"
            )
            for i in range(25)
        ]

    with ThreadPoolExecutor(max_workers=8) as threads:
        results = [job for batch in threads.map(enqueue, range(8)) for job in batch]
    assert len({job.id for job in results}) == 200
    assert _enqueue_sessions(postgres_url, schema) <= 3  # the pool's size bounds the sessions
    asyncio.run(app.close())
    assert _stored_jobs(postgres_url, schema) == 200


async def test_enqueue_many_inserts_a_batch(make_app: Callable[..., rota.App], db: Conn) -> None:
    app = build(make_app)
    requests = [
        rota.JobRequest("billing.invoice", {"invoice_id": f"i{n}", "amount": n}, tenant_id="t")
        for n in range(1000)
    ]
    jobs = await app.enqueue_many(requests)
    assert len({job.id for job in jobs}) == 1000
    assert await count_jobs(db) == 1000
    await app.close()


async def test_one_invalid_job_rejects_the_whole_batch(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    requests = [
        rota.JobRequest("billing.invoice", {"invoice_id": "ok", "amount": 1}, tenant_id="t"),
        rota.JobRequest("billing.invoice", {"invoice_id": "bad"}, tenant_id="t"),
    ]
    with pytest.raises(rota.InvalidPayload):
        await app.enqueue_many(requests)
    assert await count_jobs(db) == 0
    await app.close()


async def test_an_invalid_job_late_in_a_copied_batch_writes_none_of_it(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    # Batches that go by COPY are validated job by job as they are sent: the bad one aborts the
    # COPY after hundreds of rows went out, and none of them is kept.
    app = build(make_app)
    good = [
        rota.JobRequest("billing.invoice", {"invoice_id": f"i{n}", "amount": n}, tenant_id="t")
        for n in range(1000)
    ]
    bad = rota.JobRequest("billing.invoice", {"invoice_id": "no amount"}, tenant_id="t")
    for error, batch in (
        (rota.InvalidPayload, [*good[:900], bad, *good[900:]]),
        (rota.TenantRequired, [*good[:500], rota.JobRequest("billing.invoice", {})]),
    ):
        with pytest.raises(error):
            await app.enqueue_many(batch)
        assert await count_jobs(db) == 0
    # The connection the aborted COPY ran on is fine for the next batch.
    assert len(await app.enqueue_many(good[:100])) == 100
    assert await count_jobs(db) == 100
    await app.close()


async def test_a_conflict_inside_a_batch_writes_none_of_it(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    requests = [
        rota.JobRequest(
            "billing.invoice",
            {"invoice_id": "a", "amount": 1},
            tenant_id="t",
            idempotency_key="same",
        ),
        rota.JobRequest(
            "billing.invoice",
            {"invoice_id": "b", "amount": 2},
            tenant_id="t",
            idempotency_key="same",
        ),
    ]
    with pytest.raises(rota.IdempotencyConflict):
        await app.enqueue_many(requests)
    assert await count_jobs(db) == 0
    await app.close()


async def test_run_after_delay_uses_database_time(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    app = build(make_app)
    job = await app.enqueue(
        "billing.invoice",
        {"invoice_id": "i", "amount": 1},
        tenant_id="t",
        run_after=timedelta(hours=1),
    )
    row = await (
        await db.execute(
            "SELECT run_after - created_at AS delay FROM jobs WHERE id = %s", (job.id,)
        )
    ).fetchone()
    assert row is not None
    assert timedelta(minutes=59) < row["delay"] <= timedelta(hours=1, seconds=1)
    await app.close()


ENVELOPE_COLUMNS = (
    "type, queue, tenant_id, actor_id, trace_id, traceparent, request_id, correlation_id, "
    "idempotency_key, payload, priority, max_attempts, status, attempt"
)


def envelope_batch(prefix: str, count: int, *, with_key: bool) -> list[rota.JobRequest]:
    """``count`` jobs with every envelope field set; ``with_key`` puts an idempotency key on
    the last one, which makes the batch go by INSERT instead of COPY."""
    return [
        rota.JobRequest(
            "billing.invoice",
            Invoice(invoice_id=f"{prefix}{n} ✓", amount=n),
            tenant_id=f"tenant-{n % 3}",
            actor_id=f"usér-{n}",
            traceparent=f"00-{n + 1:032x}-00f067aa0ba902b7-01",
            request_id=f"req-{n}",
            correlation_id=f"corr-{n}",
            priority=n % 5,
            idempotency_key=f"{prefix}-key" if with_key and n == count - 1 else None,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [1, 10, 200])
async def test_a_batch_stores_the_same_rows_by_copy_as_by_insert(
    make_app: Callable[..., rota.App], db: Conn, count: int
) -> None:
    """Batches of 64 and more without keys go by COPY; one key sends the batch by INSERT.
    Both store every envelope field the same way, due at the database's now()."""
    app = build(make_app)
    stored = {}
    for prefix, with_key in (("copy", False), ("insert", True)):
        jobs = await app.enqueue_many(envelope_batch(prefix, count, with_key=with_key))
        assert [job.created for job in jobs] == [True] * count
        cursor = await db.execute(
            f"SELECT {ENVELOPE_COLUMNS}, run_after <= created_at AS due_at_creation "
            "FROM jobs WHERE id = ANY(%s) ORDER BY actor_id",
            ([job.id for job in jobs],),
        )
        rows = await cursor.fetchall()
        assert len(rows) == count
        for row in rows:
            invoice_id = row["payload"].pop("invoice_id")
            assert invoice_id == f"{prefix}{row['payload']['amount']} ✓"  # non-ASCII kept
            row.pop("idempotency_key")
        stored[prefix] = rows
    assert stored["copy"] == stored["insert"]
    first = stored["copy"][0]
    assert first["trace_id"] == f"{1:032x}"  # taken from the traceparent
    assert (first["status"], first["attempt"], first["due_at_creation"]) == ("queued", 0, True)
    await app.close()


async def test_a_copied_batch_on_a_latin1_session_stores_the_same_text(
    make_app: Callable[..., rota.App], postgres_url: str, db: Conn
) -> None:
    """The caller's session decides the encoding the server reads text in, the payload's
    included (COPY sends it as binary jsonb)."""
    app = build(make_app)
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("SET client_encoding TO 'LATIN1'")
        async with conn.transaction():
            jobs = await app.enqueue_many(
                [
                    rota.JobRequest(
                        "billing.invoice",
                        {"invoice_id": f"façade-{n}", "amount": n},
                        tenant_id="café",
                        actor_id="zoë",
                    )
                    for n in range(64)
                ],
                connection=conn,
            )
    cursor = await db.execute(
        "SELECT payload, tenant_id, actor_id FROM jobs WHERE id = ANY(%s) ORDER BY created_at",
        ([job.id for job in jobs],),
    )
    rows = await cursor.fetchall()
    assert [row["payload"] for row in rows] == [
        {"invoice_id": f"façade-{n}", "amount": n} for n in range(64)
    ]
    assert {(row["tenant_id"], row["actor_id"]) for row in rows} == {("café", "zoë")}
    await app.close()


async def test_created_at_is_when_each_row_was_written(
    make_app: Callable[..., rota.App], db: Conn
) -> None:
    """Migration 0010: created_at is the row's own clock time, not its transaction's start, so
    a batch's jobs follow the order they were sent in, each due when it was created. (The
    volatile default is also what makes COPY insert each row as it arrives.)"""
    app = build(make_app)
    for prefix, with_key in (("copy", False), ("insert", True)):
        jobs = await app.enqueue_many(envelope_batch(prefix, 200, with_key=with_key))
        cursor = await db.execute(
            "SELECT created_at, run_after <= created_at AS due, now() >= created_at AS past "
            "FROM jobs AS j JOIN unnest(%s::uuid[]) WITH ORDINALITY AS s(id, n) USING (id) "
            "ORDER BY s.n",
            ([job.id for job in jobs],),
        )
        rows = await cursor.fetchall()
        stamps = [row["created_at"] for row in rows]
        assert stamps == sorted(stamps), prefix
        assert len(set(stamps)) > 1, prefix  # not one transaction time for the whole batch
        assert all(row["due"] and row["past"] for row in rows), prefix
    await app.close()


async def test_a_copied_batch_in_a_rolled_back_transaction_leaves_no_job(
    make_app: Callable[..., rota.App], postgres_url: str, db: Conn
) -> None:
    app = build(make_app)
    async with await psycopg.AsyncConnection.connect(postgres_url, row_factory=dict_row) as conn:
        jobs = await app.enqueue_many(envelope_batch("gone", 100, with_key=False), connection=conn)
        assert len(jobs) == 100
        await conn.rollback()
    assert await count_jobs(db) == 0
    await app.close()
