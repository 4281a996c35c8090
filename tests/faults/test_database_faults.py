"""PostgreSQL restarted, connections terminated from outside, a transaction held open
(issue 6). Scenarios that disrupt the server run on a private server (``private_db``)."""

from __future__ import annotations

import asyncio
import functools
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest

import rota
from rota.store.queries import Queries
from tests.faults.harness import (
    Conn,
    Fleet,
    PrivateDatabase,
    all_succeeded,
    connect,
    registered,
    rows,
    scalar,
    start_private_server,
    work,
)
from tests.faults.invariants import assert_invariants
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

POLL_INTERVAL = 0.5


class Enqueuers:
    """Tasks enqueuing test.work jobs with idempotency keys, as clients would, through a
    fault. The ledger: ``acked`` (key -> id the call returned) and ``indeterminate`` (keys
    whose call raised: the job may or may not exist)."""

    def __init__(self, app: rota.App, count: int) -> None:
        self.app = app
        self.acked: dict[str, UUID] = {}
        self.indeterminate: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._run(f"e{n}-")) for n in range(count)]

    async def _enqueue(self, key: str) -> rota.EnqueuedJob:
        return await self.app.enqueue(
            "test.work",
            apps.Work(seconds=0.02, key=key),
            tenant_id="acme",
            idempotency_key=key,
        )

    async def _run(self, prefix: str) -> None:
        n = 0
        while not self._stop.is_set():
            key = f"{prefix}{n}"
            n += 1
            try:
                self.acked[key] = (await self._enqueue(key)).id
            except rota.DatabaseError:
                self.indeterminate.add(key)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def settle(self) -> int:
        """Enqueue every indeterminate key again: the key then names exactly one job."""
        for key in sorted(self.indeterminate):
            self.acked[key] = (await self._enqueue(key)).id
        return len(self.indeterminate)


async def test_workers_and_enqueuers_ride_out_postgres_restarts(
    private_db: PrivateDatabase, make_fleet: Callable[[str, str], Fleet]
) -> None:
    fleet = make_fleet(private_db.url, private_db.schema)
    app = apps.register(private_db.app())
    workers = [fleet.start(concurrency=4) for _ in range(2)]
    # Started, not starting: a worker that cannot reach the database at start-up exits 1
    # (a supervisor restarts it); here the faults hit running workers.
    conn = await connect(private_db.url, private_db.schema)
    try:
        await registered(conn, *workers)
    finally:
        await conn.close()  # the restarts would cut it
    enqueuers = Enqueuers(app, 2)
    for _ in range(2):
        await eventually(functools.partial(_acked_at_least, enqueuers, len(enqueuers.acked) + 30))
        await asyncio.to_thread(private_db.restart, "fast")
    # Enqueues are acknowledged again after the restarts.
    await eventually(functools.partial(_acked_at_least, enqueuers, len(enqueuers.acked) + 30))
    await enqueuers.stop()
    await enqueuers.settle()
    conn = await connect(private_db.url, private_db.schema)
    try:
        await _check_restarts(app, fleet, workers, enqueuers, conn)
    finally:
        await conn.close()
    await app.close()


async def _check_restarts(
    app: rota.App,
    fleet: Fleet,
    workers: list[subprocess.Popen[bytes]],
    enqueuers: Enqueuers,
    conn: Conn,
) -> None:
    keys = set(enqueuers.acked)

    async def drained() -> bool:
        return await all_succeeded(conn, len(keys))

    await eventually(drained, timeout=60, interval=0.2)
    # The workers rode it out, and a job enqueued now starts within the poll interval plus a
    # margin: LISTEN was re-established or polling took over.
    assert [w.poll() for w in workers] == [None, None], fleet.log_tail()
    probe = await app.enqueue("test.work", apps.Work(key="probe"), tenant_id="acme")
    acked = [*enqueuers.acked.values(), probe.id]

    async def probe_done() -> bool:
        return (await app.get_job(probe.id)).status is rota.JobStatus.SUCCEEDED

    await eventually(probe_done, timeout=10)
    job = await app.get_job(probe.id)
    assert job.started_at is not None
    assert (job.started_at - job.created_at).total_seconds() <= POLL_INTERVAL + 2.0
    # One job per key, the acknowledged one; each effect once.
    per_key = await rows(
        conn,
        "SELECT idempotency_key, id FROM jobs WHERE idempotency_key IS NOT NULL ORDER BY 1",
    )
    assert dict(per_key) == enqueuers.acked
    assert await scalar(conn, "SELECT count(*) FROM effects") == len(keys) + 1
    await assert_invariants(conn, acked=acked)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await fleet.wait(worker, 15) == 0


async def _acked_at_least(enqueuers: Enqueuers, count: int) -> bool:
    return len(enqueuers.acked) >= count


TERMINATE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name LIKE 'rota%%' AND pid <> pg_backend_pid()"
)


async def test_connections_terminated_from_outside_lose_nothing(
    private_db: PrivateDatabase, make_fleet: Callable[[str, str], Fleet], private_conn: Conn
) -> None:
    fleet = make_fleet(private_db.url, private_db.schema)
    conn = private_conn
    app = apps.register(private_db.app())
    total = 150
    acked = [j.id for j in await app.enqueue_many(work(total, seconds=0.05))]
    await app.close()  # its pool is rota's too; keep the count of victims to the workers
    workers = [fleet.start(concurrency=4) for _ in range(2)]
    await registered(conn, *workers)
    for round_ in range(1, 4):

        async def progressed(count: int = 30 * round_) -> bool:
            query = "SELECT count(*) FROM jobs WHERE status = 'succeeded'"
            return bool(await scalar(conn, query) >= count)

        await eventually(progressed, timeout=30)
        assert await scalar(conn, TERMINATE) > 0  # pool, listen and heartbeat connections

    await eventually(lambda: all_succeeded(conn, total), timeout=60, interval=0.2)
    assert [w.poll() for w in workers] == [None, None], fleet.log_tail()
    assert await scalar(conn, "SELECT count(*) FROM effects") == total
    await assert_invariants(conn, acked=acked)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert await fleet.wait(worker, 15) == 0


IDLE_IN_TRANSACTION = (
    "SELECT count(*), COALESCE(max(extract(epoch FROM now() - state_change)), 0) "
    "FROM pg_stat_activity WHERE application_name LIKE 'rota%%' "
    "AND state LIKE 'idle in transaction%%'"
)


async def test_a_held_transaction_does_not_stop_a_drain_and_rota_holds_none(
    make_app: Callable[..., rota.App],
    fleet: Fleet,
    conn: Conn,
    postgres_url: str,
    schema: str,
) -> None:
    app = apps.register(make_app())
    total = 500
    acked = [
        j.id
        for j in await app.enqueue_many(
            [rota.JobRequest("test.noop", {"n": n}, tenant_id=f"t{n % 5}") for n in range(total)]
        )
    ]
    await app.close()
    # Another client opens a transaction, reads jobs and goes idle in it, pinning its xmin.
    holder = await psycopg.AsyncConnection.connect(postgres_url, application_name="faults-holder")
    await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    await holder.execute(f'SELECT 1 FROM "{schema}".jobs LIMIT 1')
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    deadlocks_before = await scalar(conn, deadlocks)
    samples: list[tuple[int, float]] = []
    sampling = True

    async def sample() -> None:
        while sampling:
            count, longest = (await rows(conn, IDLE_IN_TRANSACTION))[0]
            samples.append((count, float(longest)))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    try:
        worker = fleet.start(concurrency=10)

        async def drained() -> bool:
            return await all_succeeded(conn, total, job_type="test.noop")

        await eventually(drained, timeout=60, interval=0.2)
        held = await rows(
            conn,
            "SELECT state, backend_xmin IS NOT NULL FROM pg_stat_activity "
            "WHERE application_name = 'faults-holder'",
        )
        assert held == [("idle in transaction", True)]  # held through the whole drain
    finally:
        sampling = False
        await sampler
        await holder.close()
    assert samples
    assert max(longest for _, longest in samples) < 5.0, samples
    assert await scalar(conn, deadlocks) == deadlocks_before
    worker.send_signal(signal.SIGTERM)
    assert await fleet.wait(worker, 15) == 0
    await assert_invariants(conn, acked=acked)


def test_local_postgres_restart_returns() -> None:
    """Issue 6, found by the restart scenario: ``restart()`` ran ``pg_ctl restart`` without
    ``-l``, the restarted server kept the output pipes ``_run()`` reads to EOF, and the call
    never returned."""
    server, base = start_private_server()
    returned = threading.Event()

    def restart() -> None:
        server.restart("fast")
        returned.set()

    thread = threading.Thread(target=restart, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        in_time = returned.wait(5)  # a restart of an idle server takes well under a second
        elapsed = time.monotonic() - started
    finally:
        server.stop("immediate")  # also frees a hung restart: the server closes the pipes
        thread.join(10)
        shutil.rmtree(base, ignore_errors=True)
    assert in_time, f"restart() still blocked after {elapsed:.1f}s"


async def test_two_claimers_creating_a_rate_limit_row_at_once_both_read_its_time(
    postgres_url: str, schema: str
) -> None:
    """Issue 6, found by the crash scenario: two workers started together on a fresh schema;
    one died at its first claim with "TypeError: '>' not supported between datetime and
    NoneType": lock_rate.sql's ON CONFLICT DO NOTHING left the loser a SELECT whose snapshot
    predated the winner's row, so it read NULL."""
    lock_rate = Queries(schema).lock_rate
    first = await psycopg.AsyncConnection.connect(postgres_url)
    second = await psycopg.AsyncConnection.connect(postgres_url)
    try:
        await first.execute("BEGIN")
        [(tat_first, _)] = await (await first.execute(lock_rate, {"key": "type:f.x"})).fetchall()
        await second.execute("BEGIN")
        racing = asyncio.create_task(second.execute(lock_rate, {"key": "type:f.x"}))
        second_pid = second.info.backend_pid

        async def second_waits() -> bool:
            query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
            return bool(await scalar(first, query, second_pid) == "Lock")

        await eventually(second_waits, timeout=10)
        await first.execute("COMMIT")
        [(tat_second, _)] = await (await racing).fetchall()
        await second.execute("COMMIT")
    finally:
        await first.close()
        await second.close()
    assert tat_first is not None
    assert tat_second is not None  # the row exists: its time must be read, not NULL
