"""Stopping background tasks and waiting with a time limit, as rota's processes do at
shutdown (a worker process that kept running after SIGTERM was a lost cancellation)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from rota.core.loops import stop_tasks, wait_event


async def test_a_task_that_lost_its_cancellation_is_stopped_all_the_same() -> None:
    """On Python 3.11 a library's ``asyncio.wait_for`` can swallow a cancellation that lands
    as the operation it waits for completes; the task then carries on to its next wait."""
    carried_on = asyncio.Event()

    async def loop_that_loses_one_cancellation() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # lost, as in the library
            await asyncio.Event().wait()
        carried_on.set()
        await asyncio.Event().wait()  # e.g. the sleep until its next pass

    task = asyncio.create_task(loop_that_loses_one_cancellation())
    await asyncio.sleep(0)  # the task reaches its first wait
    await stop_tasks(task, again_after=0.05)
    assert carried_on.is_set()
    assert task.cancelled()


async def test_stopping_tasks_retrieves_their_failures_and_ends_finished_ones() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    waiting = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await stop_tasks(failed, waiting)
    assert failed.done()
    assert not failed.cancelled()
    assert waiting.cancelled()


async def test_the_caller_cancelled_while_stopping_tasks_is_cancelled() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue  # ends only when released: the stop can end by its caller alone

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(stop_tasks(task, again_after=0.01))
    await asyncio.sleep(0.05)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not task.done()
    released.set()
    await task


async def test_waiting_for_an_event_tells_whether_it_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 5) is True


async def test_a_cancelled_wait_for_an_event_is_cancelled() -> None:
    waiter = asyncio.create_task(wait_event(asyncio.Event(), 5))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
