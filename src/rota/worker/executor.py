"""Runs one job's handler and turns however it ended into exactly one Outcome."""

from __future__ import annotations

import asyncio
import contextvars
import math
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rota.core.job import Cancelled, Errored, FailedFatally, JobError, Outcome, Succeeded
from rota.core.registry import JobType, encode_json
from rota.errors import Fatal, InvalidPayload, LeaseLost, PayloadTooLarge
from rota.worker.context import JobCancelled, JobContext

_MESSAGE_MAX_CHARS = 2000
_CANCEL_AGAIN_SECONDS = 5.0  # what a handler's own clean-up after a timeout may take
_TRACEBACK_MAX_CHARS = 16000
_TIMER_SLACK_SECONDS = 0.001


async def execute(
    job_type: JobType,
    payload: dict[str, Any],
    ctx: JobContext,
    *,
    threads: ThreadPoolExecutor,
    deadlines: Deadlines,
    result_max_bytes: int,
    task: asyncio.Task[Any] | None = None,
) -> tuple[Outcome, str | None]:
    """Run the handler with its timeout (kept by ``deadlines``), inside ``task`` (the current
    task, which the caller may pass when it knows it). Returns the outcome and, on success,
    the result as JSON text (checked here so that recording the outcome cannot fail on it)."""
    try:
        argument = job_type.parse_payload(payload)
    except InvalidPayload as error:
        return FailedFatally(JobError("invalid_payload", error.message)), None
    timeout = job_type.timeout.total_seconds()
    # asyncio.timeout's effect with one small object per run, on the worker's shared timer
    # (Deadlines): it cancels this task at the deadline, and a cancellation that only the
    # timer asked for becomes TimeoutError.
    task = task or asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    expiry = _Expiry(task, task.get_loop().time() + timeout)
    deadlines.add(expiry)
    try:
        try:
            if job_type.is_async:
                result = await job_type.handler(ctx, argument)
            else:
                result = await _in_thread(threads, job_type.handler, ctx, argument)
        except asyncio.CancelledError:
            if expiry.count:
                for _ in range(expiry.count):
                    task.uncancel()
                if task.cancelling() <= cancelling:
                    raise TimeoutError from None
            raise
        finally:
            expiry.ended = True
            deadlines.discard(expiry)
    except TimeoutError:
        if ctx.cancelled:
            return Cancelled("cancelled"), None
        ctx.request_cancel()  # a synchronous handler may still be running: ask it to stop
        return Errored(JobError("timeout", f"the handler ran longer than {timeout:g}s")), None
    except JobCancelled:
        return Cancelled("cancelled"), None
    except LeaseLost as error:
        return Errored(JobError("lease_lost", error.message)), None
    except Fatal as error:
        return FailedFatally(_error(error.code, error)), None
    except asyncio.CancelledError:
        if ctx.lease_lost:
            return Errored(JobError("lease_lost", "the run lost its lease")), None
        raise
    except Exception as error:
        if ctx.cancelled:
            return Cancelled("cancelled"), None
        code = getattr(error, "code", None)
        return Errored(_error(code if isinstance(code, str) else "handler_error", error)), None
    try:
        result_json = (
            None if result is None else encode_json(_plain(result), result_max_bytes, what="result")
        )
    except (InvalidPayload, PayloadTooLarge) as error:
        return FailedFatally(JobError("invalid_result", error.message)), None
    return Succeeded(result), result_json


class _Expiry:
    """A run's timeout: cancels its task at ``deadline`` (loop time), and again every few
    seconds until the handler ends, since a cancellation can be lost inside it (a library's
    ``asyncio.wait_for`` on Python 3.11, CPython issue 86296). A callable object, not a
    closure that re-arms itself: that closure would hold itself in a reference cycle, left
    for the garbage collector with the run's task (about 23,000 instructions a job)."""

    __slots__ = ("count", "deadline", "ended", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.count = 0  # cancellations asked for
        self.ended = False

    def __call__(self) -> None:
        if self.ended:
            return  # a repeat that fired after the handler ended
        self.count += 1
        self.task.cancel()
        self.task.get_loop().call_later(_CANCEL_AGAIN_SECONDS, self)


class Deadlines:
    """The timeouts of the runs in flight on one event loop, on one loop timer armed for the
    soonest deadline. A timer per run (``call_later`` and its cancel: 2.3 us a pair in a
    loop of them with uvloop, about 1,300 instructions per drained job in
    ``bench/instructions.py``) becomes a set insertion and a comparison when a run starts and
    a removal when its handler ends. When the timer fires it expires the runs that are due,
    among the runs in flight (at most the worker's concurrency), and re-arms itself for the
    next deadline. Runs of one timeout start in deadline order, so the timer is seldom re-armed
    when a run starts."""

    __slots__ = ("_armed_for", "_runs", "_timer")

    def __init__(self) -> None:
        self._runs: set[_Expiry] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf

    def add(self, expiry: _Expiry) -> None:
        self._runs.add(expiry)
        if expiry.deadline < self._armed_for:
            self._arm(expiry.deadline, expiry.task.get_loop())

    def discard(self, expiry: _Expiry) -> None:
        self._runs.discard(expiry)

    def close(self) -> None:
        """Stop the timer (the worker stops; runs left have been cancelled or released)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = math.inf
        self._runs.clear()

    def _arm(self, when: float, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire)
        self._armed_for = when

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()  # the timer's own
        self._timer = None
        self._armed_for = math.inf
        # A loop timer may fire up to its clock's resolution early (a millisecond with uvloop):
        # a run that close to its deadline is due, rather than re-armed for a moment.
        now = loop.time() + _TIMER_SLACK_SECONDS
        soonest = math.inf
        for expiry in list(self._runs):
            if expiry.deadline <= now:
                self._runs.discard(expiry)
                expiry()
            elif expiry.deadline < soonest:
                soonest = expiry.deadline
        if soonest < math.inf:
            self._arm(soonest, loop)


async def _in_thread(
    threads: ThreadPoolExecutor, handler: Callable[..., Any], ctx: JobContext, argument: Any
) -> Any:
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # keeps the job's log fields in the thread
    return await loop.run_in_executor(threads, context.run, handler, ctx, argument)


def _plain(result: Any) -> Any:
    dump = getattr(result, "model_dump", None)
    return dump(mode="json") if callable(dump) else result


def _error(code: str, error: BaseException) -> JobError:
    message = _storable(f"{type(error).__name__}: {error}")[:_MESSAGE_MAX_CHARS]
    trace = _storable("".join(traceback.format_exception(error)))[-_TRACEBACK_MAX_CHARS:]
    return JobError(code=_storable(code)[:64], message=message, traceback=trace)


def _storable(text: str) -> str:
    """Text jsonb accepts: no NUL, no lone surrogates (recording an outcome must not fail)."""
    return text.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")
