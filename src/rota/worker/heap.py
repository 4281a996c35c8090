"""The garbage collector's settings for a process that runs a worker (ADR 0014).

Every job a worker runs makes container objects that live for one job: its task and
coroutine, its context, its futures. Under CPython's default settings they trigger a
young-generation collection every 700 allocations, and the older generations' collections
walk every object the process holds since it started (modules, classes, the app): about 16,000
of a drained job's 189,000 instructions (``bench/instructions.py``), the same as with the
collector off. Moving what start-up made into the permanent generation (``gc.freeze``) and
collecting the young generation every 10,000 allocations instead of 700 takes all of it
back; cyclic garbage is still collected, a little later.

``rota worker`` and ``rota drain`` call :func:`settle_worker_heap` once the app is loaded,
before the worker starts. It changes process-wide state, so the library's ``Worker`` does not
call it: an application that runs a worker inside its own process decides for itself.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (CPython: 700)


def settle_worker_heap() -> None:
    """Collect start-up's garbage, freeze what is left, and collect the young generation
    less often. Call it once, when the process has loaded what it keeps."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
