"""Which event loop runs rota's processes: uvloop when it is installed (``rota[fast]``) and
not turned off, else asyncio's own; and how rota stops its background tasks and waits with a
time limit on Python 3.11."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopChoice = Literal["auto", "asyncio", "uvloop"]


def loop_factory(choice: EventLoopChoice = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """``auto``: uvloop if importable; ``uvloop``: uvloop or an ImportError."""
    if choice == "asyncio" or (choice == "auto" and importlib.util.find_spec("uvloop") is None):
        return asyncio.new_event_loop
    import uvloop  # an ImportError here is the answer to ROTA_EVENT_LOOP=uvloop without it

    return uvloop.new_event_loop


def run(coroutine: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(coroutine)


async def stop_tasks(*tasks: asyncio.Task[Any], again_after: float = 1.0) -> None:
    """Cancel ``tasks`` and return once every one has ended (what they raised is dropped:
    each background task reports its own failures).

    One cancel is not always enough on Python 3.11: ``asyncio.wait_for``, which libraries use
    inside (psycopg_pool's ``getconn`` among them), loses a cancellation that arrives as the
    operation it waits for completes (CPython issue 86296, fixed in 3.12), and the task
    carries on. A task still running ``again_after`` seconds after its cancel is cancelled
    again. ``asyncio.wait`` neither raises a task's cancellation here nor absorbs the
    caller's own."""
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=again_after)
        for task in pending:
            task.cancel()
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so that asyncio does not report it as lost


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; whether it was set. With ``asyncio.timeout``, not
    ``asyncio.wait_for``, which can lose a cancellation of the waiting task on 3.11."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
