"""Which event loop runs rota's processes: uvloop when it is installed (``rota[fast]``) and
not turned off, else asyncio's own."""

from __future__ import annotations

import asyncio
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
