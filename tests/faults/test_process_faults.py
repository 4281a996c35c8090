"""Worker processes killed, stopped, frozen and crashed by their own handlers (issue 6).

Real ``rota worker`` processes on the shared PostgreSQL (lease 2 s, rescue every 0.5 s); every
scenario ends with the global invariants (invariants.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Callable
from datetime import datetime

import pytest

import rota
from tests.faults.harness import (
    Conn,
    Fleet,
    all_succeeded,
    in_flight,
    rows,
    scalar,
    work,
    worker_id,
)
from tests.faults.invariants import assert_invariants
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults

LEASE = 2.0
RESCUE_INTERVAL = 0.5


async def test_sigkill_at_random_moments_loses_nothing_and_applies_each_effect_once(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    app = apps.register(make_app())
    total, kills_wanted = 100, 5
    requests = [
        rota.JobRequest(
            "test.work",
            apps.Work(seconds=rng.uniform(0.3, 0.8), key=f"k{n}"),
            tenant_id=f"t{n % 3}",
            idempotency_key=f"k{n}",
        )
        for n in range(total)
    ]
    acked = [job.id for job in await app.enqueue_many(requests)]
    for _ in range(2):
        fleet.start(concurrency=4)

    kills: list[tuple[int, datetime, list[tuple[object, ...]]]] = []
    while len(kills) < kills_wanted:
        victim = rng.choice(fleet.alive())

        async def victim_mid_job(pid: int = victim.pid) -> bool:
            return bool(await in_flight(conn, pid))

        await eventually(victim_mid_job, timeout=30)
        await asyncio.sleep(rng.uniform(0, 0.15))  # a random moment inside the run
        fleet.kill(victim)
        killed_at = await scalar(conn, "SELECT clock_timestamp()")
        kills.append((victim.pid, killed_at, await in_flight(conn, victim.pid)))
        fleet.start(concurrency=4)

    await eventually(lambda: all_succeeded(conn, total), timeout=90, interval=0.2)
    context = f"seed {seed}\n{fleet.log_tail()}"
    assert await scalar(conn, "SELECT count(*) FROM effects") == total, context
    # Every kill cut at least one run short; each such run was handed back by the rescuer
    # within lease + rescue interval (+ margin), measured in database time.
    for pid, killed_at, cut in kills:
        assert cut, f"kill of {pid} found no run in flight; {context}"
        for job_id, attempt in cut:
            requeued = await rows(
                conn,
                "SELECT at FROM job_events WHERE job_id = %s AND attempt = %s "
                "AND to_status = 'queued' AND error_code = 'lease_expired'",
                job_id,
                attempt,
            )
            assert len(requeued) == 1, context
            assert (requeued[0][0] - killed_at).total_seconds() <= LEASE + RESCUE_INTERVAL + 1.5
    # A run that started and never ended (killed) was followed by a later attempt.
    unfinished = await rows(
        conn,
        "SELECT s.job_id, s.attempt, j.attempt FROM exec_log AS s JOIN jobs AS j "
        "ON j.id = s.job_id WHERE s.phase = 'start' AND NOT EXISTS (SELECT 1 FROM exec_log "
        "AS e WHERE e.job_id = s.job_id AND e.attempt = s.attempt AND e.phase = 'end')",
    )
    assert len(unfinished) >= kills_wanted
    assert all(current > attempt for _, attempt, current in unfinished), unfinished
    assert await scalar(conn, "SELECT count(*) FROM job_runs WHERE outcome = 'lost'") >= len(
        unfinished
    )
    await assert_invariants(conn, acked=acked)
    await app.close()


async def test_sigterm_during_a_busy_drain_finishes_in_flight_jobs_then_exits_0(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    app = apps.register(make_app())
    total = 40
    acked = [job.id for job in await app.enqueue_many(work(total, seconds=0.5))]
    first = fleet.start(concurrency=4)

    async def four_in_flight() -> bool:
        wid = await worker_id(conn, first.pid)
        query = "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by = %s"
        return wid is not None and await scalar(conn, query, wid) == 4

    await eventually(four_in_flight, timeout=30)
    first_id = await worker_id(conn, first.pid)
    held = [
        row[0]
        for row in await rows(
            conn, "SELECT id FROM jobs WHERE status = 'running' AND locked_by = %s", first_id
        )
    ]
    first.send_signal(signal.SIGTERM)
    terminated_at = await scalar(conn, "SELECT clock_timestamp()")
    assert await fleet.wait(first, 12) == 0, fleet.log_tail()

    # Nothing claimed after SIGTERM: the runs were shorter than the grace.
    assert (
        await scalar(
            conn,
            "SELECT count(*) FROM job_runs WHERE worker_id = %s AND started_at > %s",
            first_id,
            terminated_at,
        )
        == 0
    )
    # Jobs it had claimed ahead of its free slots (prefetch) went back untouched at once;
    # none that had started was handed back.
    assert (
        await scalar(
            conn,
            "SELECT count(*) FROM job_events AS e JOIN job_runs AS r ON r.job_id = e.job_id "
            "AND r.worker_id = %s WHERE e.message LIKE 'released%%'",
            first_id,
        )
        == 0
    )
    done = await rows(
        conn,
        "SELECT j.status, j.attempt, r.worker_id FROM jobs AS j JOIN job_runs AS r "
        "ON r.job_id = j.id AND r.attempt = j.attempt WHERE j.id = ANY(%s)",
        held,
    )
    assert sorted(done) == [("succeeded", 1, first_id)] * len(held)
    assert await scalar(conn, "SELECT stopped_at IS NOT NULL FROM workers WHERE id = %s", first_id)
    assert await scalar(conn, "SELECT count(*) FROM jobs WHERE status = 'running'") == 0

    second = fleet.start(concurrency=4)
    await eventually(lambda: all_succeeded(conn, total), timeout=60, interval=0.2)
    second.send_signal(signal.SIGTERM)
    assert await fleet.wait(second, 12) == 0
    assert await scalar(conn, "SELECT count(*) FROM effects") == total
    assert await scalar(conn, "SELECT max(attempt) FROM jobs") == 1
    await assert_invariants(conn, acked=acked)
    await app.close()


async def test_a_job_that_kills_its_process_every_time_is_poisoned_and_others_flow(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    app = apps.register(make_app())
    crasher = await app.enqueue("test.crash", apps.Work(), tenant_id="acme")
    acked = [crasher.id, *(j.id for j in await app.enqueue_many(work(20, seconds=0.1)))]
    for _ in range(2):
        fleet.start(concurrency=2)
    exits: list[int] = []
    replaced: set[int] = set()

    async def keep_two_alive() -> None:  # the test is the supervisor
        while True:
            for process in list(fleet.processes):
                code = process.poll()
                if code is not None and process.pid not in replaced:
                    replaced.add(process.pid)
                    exits.append(code)
                    fleet.start(concurrency=2)
            await asyncio.sleep(0.05)

    keeper = asyncio.create_task(keep_two_alive())
    try:

        async def crashed_once() -> bool:
            return bool(exits)

        await eventually(crashed_once, timeout=30)
        # More work arrives while the crasher keeps killing processes.
        acked += [j.id for j in await app.enqueue_many(work(20, seconds=0.1, prefix="late"))]

        async def poisoned() -> bool:
            return (await app.get_job(crasher.id)).status is rota.JobStatus.POISONED

        await eventually(poisoned, timeout=45, interval=0.1)
        await eventually(lambda: all_succeeded(conn, 40), timeout=45, interval=0.1)
    finally:
        keeper.cancel()
    job = await app.get_job(crasher.id)
    assert job.attempt == job.max_attempts == 3
    assert job.error is not None
    assert job.error["code"] == "lease_expired"
    assert exits == [1, 1, 1], fleet.log_tail()  # one dead process per attempt, no more
    starts = "SELECT count(*) FROM exec_log WHERE job_id = %s AND phase = 'start'"
    assert await scalar(conn, starts, crasher.id) == 3
    runs = await rows(
        conn, "SELECT attempt, outcome FROM job_runs WHERE job_id = %s ORDER BY 1", crasher.id
    )
    assert runs == [(1, "lost"), (2, "lost"), (3, "lost")]
    assert await scalar(conn, "SELECT count(*) FROM effects") == 40
    await assert_invariants(conn, acked=acked)
    await app.close()


async def test_a_frozen_workers_late_writes_change_nothing_after_its_job_finished_elsewhere(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    app = apps.register(make_app())
    job = await app.enqueue(
        "test.work", apps.Work(seconds=1.5, key="once"), tenant_id="acme", idempotency_key="once"
    )
    frozen = fleet.start(concurrency=1)

    async def started() -> bool:
        return bool(await in_flight(conn, frozen.pid))

    await eventually(started, timeout=30)
    frozen_id = await worker_id(conn, frozen.pid)
    frozen.send_signal(signal.SIGSTOP)  # a GC pause, a VM freeze: past its 2 s lease
    rescuer = fleet.start(concurrency=1)

    async def succeeded() -> bool:
        return (await app.get_job(job.id)).status is rota.JobStatus.SUCCEEDED

    await eventually(succeeded, timeout=30)
    done = await app.get_job(job.id)
    assert (done.attempt, done.result) == (2, {"pid": rescuer.pid})

    resumed_at = await scalar(conn, "SELECT now()")
    frozen.send_signal(signal.SIGCONT)

    async def resumed() -> bool:  # its heartbeat thread is back at work
        query = "SELECT heartbeat_at > %s FROM workers WHERE id = %s"
        return bool(await scalar(conn, query, resumed_at, frozen_id))

    # Not SIGTERM at once: see test_a_cancelled_listener_ends_even_as_its_probe_returns.
    await eventually(resumed, timeout=10)
    frozen.send_signal(signal.SIGTERM)  # exits once its run is recorded or fenced out
    assert await fleet.wait(frozen, 15) == 0, fleet.log_tail()

    after = await app.get_job(job.id)
    assert (after.status, after.attempt, after.result, after.finished_at) == (
        done.status,
        done.attempt,
        done.result,
        done.finished_at,
    )
    events = await app.job_events(job.id)
    transitions = [(e["from_status"], e["to_status"]) for e in events if e["kind"] == "transition"]
    assert transitions == [
        ("queued", "running"),
        ("running", "queued"),  # lease expired while frozen
        ("queued", "running"),
        ("running", "succeeded"),
    ]
    stale = [e for e in events if e["kind"] == "stale_write"]
    assert [e["attempt"] for e in stale] in ([], [1])  # rejected and logged, or never tried
    runs = await rows(
        conn,
        "SELECT attempt, outcome, worker_id FROM job_runs WHERE job_id = %s ORDER BY 1",
        job.id,
    )
    rescuer_id = await worker_id(conn, rescuer.pid)
    assert runs == [(1, "lost", frozen_id), (2, "succeeded", rescuer_id)]
    assert await rows(conn, "SELECT key, attempt FROM effects") == [("once", 2)]
    await assert_invariants(conn, acked=[job.id])
    await app.close()
