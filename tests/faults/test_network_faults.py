"""Connections that go silent: no FIN, no RST, just no bytes (issue 6).

An in-process worker reaches PostgreSQL only through a TCP proxy (proxy.py); the test
enqueues and reads directly. Poll interval 0.5 s, so the LISTEN connection is probed after
1 s of silence (``Listener.check_seconds`` = 2 x poll interval, at least 1 s) and a probe
that gets no answer within another 1 s counts as a dead connection; psycopg then spends up
to 5 s trying to cancel the unanswered probe before it closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

import rota
from rota.store.db import Database
from rota.store.listen import Listener
from rota.worker.heartbeat import Heartbeat
from rota.worker.worker import Worker
from tests.faults.harness import APP_SETTINGS, Conn, scalar
from tests.faults.invariants import assert_invariants
from tests.faults.proxy import Proxy
from tests.support.waiting import eventually
from tests.worker.helpers import wait_status

pytestmark = pytest.mark.faults

POLL_INTERVAL = 0.5
CHECK_SECONDS = max(1.0, min(10.0, POLL_INTERVAL * 2))  # as the worker computes it
CANCEL_WAIT = 5.0  # psycopg: wait for a cancelled query to end, then close


async def _ping(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
    pass


@contextlib.asynccontextmanager
async def proxied_worker(
    postgres_url: str, schema: str, handlers: dict[str, Callable[..., Any]] | None = None
) -> AsyncIterator[tuple[Proxy, rota.App, Worker, list[tuple[float, str]]]]:
    """A proxy to the shared server, a worker (in this process) that connects only through
    it, an app that connects directly, and the NOTIFYs the worker received."""
    target = urlsplit(postgres_url)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    options = {**APP_SETTINGS, "poll_interval_seconds": POLL_INTERVAL}
    behind = rota.App(proxy.url(), schema_name=schema, **options)
    direct = rota.App(postgres_url, schema_name=schema, **options)
    for app in (behind, direct):
        for job_type, handler in {"f.ping": _ping, **(handlers or {})}.items():
            app.job(job_type, timeout=60)(handler)
    worker = behind.worker(concurrency=2)
    notified: list[tuple[float, str]] = []
    deliver = worker._on_notify

    def recording(channel: str, payload: str) -> None:
        notified.append((time.monotonic(), channel))
        deliver(channel, payload)

    worker._on_notify = recording  # type: ignore[method-assign]  # observe wake-ups
    task = asyncio.create_task(worker.run(install_signals=False))
    await asyncio.wait_for(worker.started.wait(), 15)
    try:
        yield proxy, direct, worker, notified
    finally:
        proxy.heal()
        worker.stop()
        try:
            await asyncio.wait_for(task, 30)
        finally:
            await proxy.close()
            await behind.close()
            await direct.close()


async def test_a_silently_cut_listen_connection_is_covered_by_polling_then_replaced(
    postgres_url: str, schema: str, conn: Conn
) -> None:
    async with proxied_worker(postgres_url, schema) as (proxy, direct, worker, notified):
        # The enqueue's NOTIFY wakes the queue, or hands the job to the idle worker (ADR 0012)
        wake_ups = {worker.store.channels.jobs, worker.store.channels.handoff}
        # Healthy: the enqueue's NOTIFY reaches the worker over its LISTEN connection.
        first = await direct.enqueue("f.ping", {}, tenant_id="acme")
        await wait_status(direct, first.id, rota.JobStatus.SUCCEEDED)
        assert [channel for _, channel in notified] in ([channel] for channel in wake_ups)

        # The LISTEN connection goes silent; pool and heartbeat connections still work.
        assert proxy.blackhole(b"rota-listen") == 1
        cut_at = time.monotonic()
        cut_at_db = await scalar(conn, "SELECT now()")
        listens = proxy.opened(b"rota-listen")
        second = await direct.enqueue("f.ping", {}, tenant_id="acme")
        done = await wait_status(direct, second.id, rota.JobStatus.SUCCEEDED)
        assert done.started_at is not None
        # Its NOTIFY is stuck in the silent connection: polling picked the job up (a job handed
        # off is found by its holder at the poll).
        assert (done.started_at - done.created_at).total_seconds() <= POLL_INTERVAL + 1.0
        assert len(notified) == 1

        # The listener notices the silence (quiet period, then an unanswered probe) and
        # opens a new LISTEN connection, which LISTENs on every channel (its last statement
        # is the last LISTEN; until then an enqueue's NOTIFY could pass it by).
        async def reconnected() -> bool:
            if proxy.opened(b"rota-listen") != listens + 1:
                return False
            listening = await scalar(
                conn,
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'rota-listen' AND backend_start > %s "
                "AND (query LIKE 'LISTEN %%handoff%%' OR query = 'SELECT 1')",
                cut_at_db,
            )
            return listening == 1

        await eventually(reconnected, timeout=2 * CHECK_SECONDS + CANCEL_WAIT + 5)
        assert time.monotonic() - cut_at <= 2 * CHECK_SECONDS + CANCEL_WAIT + 2

        # NOTIFY works again on the new connection.
        third = await direct.enqueue("f.ping", {}, tenant_id="acme")

        async def notified_again() -> bool:
            return any(channel in wake_ups and at > cut_at for at, channel in notified)

        await eventually(notified_again, timeout=5)
        await wait_status(direct, third.id, rota.JobStatus.SUCCEEDED)
    await assert_invariants(conn, acked=[first.id, second.id, third.id])


async def test_a_worker_cut_off_entirely_resumes_when_the_network_heals(
    postgres_url: str, schema: str, conn: Conn
) -> None:
    async with proxied_worker(postgres_url, schema) as (proxy, direct, _, _):
        proxy.partition()  # every open connection, and every new one, goes silent
        job = await direct.enqueue("f.ping", {}, tenant_id="acme")
        await asyncio.sleep(2 * CHECK_SECONDS)  # the fault's duration, not a wait for an event
        assert (await direct.get_job(job.id)).status is rota.JobStatus.QUEUED
        proxy.heal()
        healed_at = time.monotonic()
        await wait_status(direct, job.id, rota.JobStatus.SUCCEEDED, timeout=15)
        # Held statements complete and the listener reconnects: no reconnect storm, no
        # wait for a lease or a TCP timeout.
        assert time.monotonic() - healed_at <= POLL_INTERVAL + 2.0
    await assert_invariants(conn, acked=[job.id])


async def test_a_partitioned_worker_stops_its_handler_once_its_lease_must_have_ended(
    postgres_url: str, schema: str, conn: Conn
) -> None:
    """Issue 6: the heartbeat's renewal had no time limit; on a silent connection it blocked
    for as long as the silence lasted, never reported the lease lost, and the handler ran on
    past its lease."""
    lease = APP_SETTINGS["lease_seconds"]
    stopped = threading.Event()
    entered = threading.Event()

    def long(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        entered.set()
        if ctx.wait_cancelled(30):
            stopped.set()

    handlers = {"f.long": long}
    async with proxied_worker(postgres_url, schema, handlers) as (proxy, direct, _, _):
        job = await direct.enqueue("f.long", {}, tenant_id="acme")
        await asyncio.to_thread(entered.wait, 15)

        async def renewed() -> bool:  # the heartbeat has its connection and used it
            query = "SELECT locked_until > started_at + make_interval(secs => %s) FROM jobs"
            return bool(await scalar(conn, query, lease))

        await eventually(renewed, timeout=10)
        proxy.partition()
        cut_at = time.monotonic()
        # The heartbeat cannot renew: by this process's own clock the lease is over after
        # `lease` seconds, and the handler must be told to stop (not run on unfenced).
        in_time = await asyncio.to_thread(stopped.wait, lease + 3)
        elapsed = time.monotonic() - cut_at
        proxy.heal()
        assert in_time, f"handler not cancelled {elapsed:.1f}s into the partition"
    await assert_invariants(conn, acked=[job.id])


async def test_a_renewal_left_on_a_silent_connection_ends_and_the_next_one_renews(
    postgres_url: str, schema: str, conn: Conn
) -> None:
    """The heartbeat drops a connection whose renewal got no answer in time. That renewal
    must end, not wait on: it was left waiting on a freed connection, and once the next
    connection reused its socket number psycopg resumed it there and the process crashed."""
    target = urlsplit(postgres_url)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    behind = rota.App(proxy.url(), schema_name=schema, **APP_SETTINGS)
    behind.job("f.ping", timeout=60)(_ping)
    worker_id = uuid.uuid4()
    await behind.enqueue("f.ping", {}, tenant_id="acme")
    [job] = await behind.jobs_store().claim_jobs(
        worker_id=worker_id, queues=["default"], excluded_types=[], limit=1, lease_seconds=3
    )
    lost: list[uuid.UUID] = []
    heartbeat = Heartbeat(
        db=behind.database(),
        store=behind.jobs_store(),
        worker_id=worker_id,
        lease_seconds=30,
        interval_seconds=0.5,
        held=lambda: {job.id: job.attempt},
        on_lost=lambda job_id, attempt: lost.append(job_id),
        on_cancel_requested=lambda job_id: None,
    )
    lease_left = "SELECT extract(epoch FROM locked_until - now()) FROM jobs WHERE id = %s"

    def renewals() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if "Heartbeat._renew" in repr(t.get_coro())]

    try:
        await heartbeat.beat_once()
        assert await scalar(conn, lease_left, job.id) > 20  # renewed for 30 s
        dropped = heartbeat._conn  # the connection the next renewal will get no answer on
        assert dropped is not None
        proxy.partition()
        await heartbeat.beat_once()  # no answer within the interval: the connection is dropped
        if renewals():
            # Still waiting on it, so it must still be open: freed, the renewal would be
            # resumed on freed memory.
            assert not dropped.closed

        async def none_left() -> bool:
            return not renewals()

        await eventually(none_left, timeout=5)
        proxy.heal()
        await conn.execute("UPDATE jobs SET locked_until = now() + interval '5 seconds'")
        await heartbeat.beat_once()  # on a new connection
        assert await scalar(conn, lease_left, job.id) > 20
        assert lost == []
    finally:
        proxy.heal()
        await heartbeat.close()
        await proxy.close()
        await behind.close()


async def test_renewals_that_time_out_while_connecting_leave_one_connection(
    postgres_url: str, schema: str
) -> None:
    """Two renewals in a row time out while their connections are still being opened; when
    the network heals, both connect. The heartbeat keeps one connection and closes the other
    (it kept the last to connect and left the first open, unreferenced)."""
    target = urlsplit(postgres_url)
    proxy = await Proxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    behind = rota.App(proxy.url(), schema_name=schema, **APP_SETTINGS)
    heartbeat = Heartbeat(
        db=behind.database(),
        store=behind.jobs_store(),
        worker_id=uuid.uuid4(),
        lease_seconds=30,
        interval_seconds=0.5,
        held=dict,  # no leases: each renewal is a connection and an empty statement
        on_lost=lambda job_id, attempt: None,
        on_cancel_requested=lambda job_id: None,
    )

    def renewals() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if "Heartbeat._renew" in repr(t.get_coro())]

    def open_heartbeat_connections() -> int:
        return sum(1 for c in proxy.connections if not c.closed and c.matches(b"rota-heartbeat"))

    try:
        proxy.partition()
        await heartbeat.beat_once()  # times out while connecting
        await heartbeat.beat_once()  # so does the next one
        assert len(renewals()) == 2
        proxy.heal()

        async def settled() -> bool:
            return not renewals() and open_heartbeat_connections() == 1

        await eventually(settled, timeout=15)
    finally:
        proxy.heal()
        await heartbeat.close()
        await proxy.close()
        await behind.close()


async def test_a_cancelled_listener_ends_even_as_its_probe_returns(postgres_url: str) -> None:
    """Issue 6, found by the SIGSTOP scenario: SIGCONT then SIGTERM at once left 3 of 12 idle
    worker processes running forever. The listener probed with ``asyncio.wait_for``, which on
    Python 3.11 swallows a cancellation that arrives as the probe returns (CPython gh-86296),
    so ``Worker.run`` never got past ``gather(*loops)``. Here the cancellation lands exactly
    as the probe's answer does, which resuming a frozen process makes likely."""
    listening: asyncio.Task[None] | None = None
    probes = 0

    class Probed:
        """A real LISTEN connection whose first probe answer comes with a stop request."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

        async def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal probes
            result = await self._conn.execute(query, *args, **kwargs)
            if query == "SELECT 1":
                probes += 1
                if probes == 1:
                    assert listening is not None
                    listening.cancel()  # the worker stops: it cancels its loops
            return result

    class ProbedDatabase:
        def __init__(self) -> None:
            self._db = Database(postgres_url, max_size=1)

        async def connect(self, application_name: str | None = None) -> Probed:
            return Probed(await self._db.connect(application_name))

    listener = Listener(
        ProbedDatabase(),  # type: ignore[arg-type]  # only connect() is used
        ["faults.quiet"],
        lambda channel, payload: None,
        check_seconds=0.05,
    )
    listening = asyncio.create_task(listener.run())
    done, _ = await asyncio.wait([listening], timeout=3)
    if not done:  # the cancellation was swallowed: stop it for good, outside the probe
        listening.cancel()
        await asyncio.wait([listening], timeout=10)
    assert done, f"still listening after its cancellation ({probes} probes since)"
