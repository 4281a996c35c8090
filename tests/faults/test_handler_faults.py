"""Handlers that hang past their timeout or block the worker's event loop (issue 6)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

import rota
from tests.faults.harness import Conn, Fleet, all_succeeded, rows, scalar, work
from tests.faults.invariants import assert_invariants
from tests.support import apps
from tests.support.waiting import eventually

pytestmark = pytest.mark.faults


async def test_hung_handlers_time_out_retry_then_are_poisoned_while_other_jobs_flow(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    # test.hang sleeps 3 s in its thread and test.hang_async awaits forever; both have a 1 s
    # timeout and 2 attempts.
    app = apps.register(make_app())
    hung_sync = await app.enqueue("test.hang", apps.Work(seconds=3), tenant_id="acme")
    hung_async = await app.enqueue("test.hang_async", apps.Work(), tenant_id="acme")
    acked = [hung_sync.id, hung_async.id]
    acked += [j.id for j in await app.enqueue_many(work(20, seconds=0.1))]
    worker = fleet.start(concurrency=4)

    async def both_poisoned() -> bool:
        query = "SELECT count(*) FROM jobs WHERE status = 'poisoned' AND id = ANY(%s)"
        return bool(await scalar(conn, query, [hung_sync.id, hung_async.id]) == 2)

    await eventually(both_poisoned, timeout=30)
    for job_id in (hung_sync.id, hung_async.id):
        job = await app.get_job(job_id)
        assert job.attempt == 2
        assert job.error is not None
        assert job.error["code"] == "timeout"
        runs = await rows(
            conn,
            "SELECT attempt, outcome, error_code FROM job_runs WHERE job_id = %s ORDER BY 1",
            job_id,
        )
        assert runs == [(1, "retry", "timeout"), (2, "poisoned", "timeout")]
    # The slots were freed: work enqueued after the hangs runs too.
    acked += [j.id for j in await app.enqueue_many(work(10, seconds=0.1, prefix="late"))]
    await eventually(lambda: all_succeeded(conn, 30), timeout=30)

    # What a timeout does not do: stop a synchronous handler. Both abandoned threads ran to
    # their end; their return was dropped and the job's record did not move.
    async def sync_threads_ended() -> bool:
        query = "SELECT count(*) FROM exec_log WHERE job_id = %s AND phase = 'end'"
        return bool(await scalar(conn, query, hung_sync.id) == 2)

    await eventually(sync_threads_ended, timeout=15)
    still = await app.get_job(hung_sync.id)
    assert (still.status, still.attempt) == (rota.JobStatus.POISONED, 2)
    ends = "SELECT count(*) FROM exec_log WHERE job_id = %s AND phase = 'end'"
    assert await scalar(conn, ends, hung_async.id) == 0  # cancelled at its await
    worker.send_signal(signal.SIGTERM)
    assert await fleet.wait(worker, 15) == 0, fleet.log_tail()
    await assert_invariants(conn, acked=acked)
    await app.close()


async def test_a_handler_blocking_the_event_loop_past_its_lease_keeps_the_lease(
    make_app: Callable[..., rota.App], fleet: Fleet, conn: Conn
) -> None:
    # test.block sleeps synchronously inside `async def` for 2.5 leases: the worker's loop
    # stands still, but the heartbeat renews from its own thread and connection.
    app = apps.register(make_app())
    blocker = await app.enqueue("test.block", apps.Work(seconds=5, key="blocked"), tenant_id="acme")
    acked = [blocker.id, *(j.id for j in await app.enqueue_many(work(6, seconds=0.2)))]
    # The second worker would rescue the job if its lease ran out.
    for _ in range(2):
        fleet.start(concurrency=4)

    async def done() -> bool:
        return bool(await scalar(conn, "SELECT count(*) FROM jobs WHERE status = 'succeeded'") == 7)

    await eventually(done, timeout=30)
    job = await app.get_job(blocker.id)
    assert job.attempt == 1
    lapsed = "SELECT count(*) FROM job_events WHERE error_code = 'lease_expired'"
    assert await scalar(conn, lapsed) == 0
    starts = "SELECT count(*) FROM exec_log WHERE job_id = %s AND phase = 'start'"
    assert await scalar(conn, starts, blocker.id) == 1
    await assert_invariants(conn, acked=acked)
    await app.close()
