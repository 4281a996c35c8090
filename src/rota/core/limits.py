"""Rate limits and claim fairness settings as values. No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from rota.errors import JobTypeError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``runs`` starts per ``per_seconds`` across every worker: one start every
    ``per_seconds / runs``, smoothly, so any window of ``per_seconds`` holds at most ``runs``
    starts. ``burst`` > 1 lets that many start at once after a quiet spell (a window may
    then hold up to ``runs + burst - 1``)."""

    runs: int
    per_seconds: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.runs < 1 or self.per_seconds <= 0 or self.burst < 1:
            raise JobTypeError("a rate limit needs runs >= 1, per_seconds > 0 and burst >= 1")

    @property
    def interval_seconds(self) -> float:
        return self.per_seconds / self.runs


def grant_runs(limit: RateLimit, tat: datetime, now: datetime, wanted: int) -> tuple[int, datetime]:
    """GCRA: how many of ``wanted`` runs may start at ``now`` given the limit's theoretical
    arrival time ``tat``; returns the grant and the time to store when all granted runs are
    used (for fewer, use ``spend``)."""
    base = max(tat, now)
    interval = timedelta(seconds=limit.interval_seconds)
    allowance = (now + interval * limit.burst - base) / interval
    runs = max(0, min(wanted, math.floor(allowance + 1e-9)))
    return runs, base + interval * runs


def next_allowed(limit: RateLimit, tat: datetime, now: datetime) -> timedelta:
    """How long until the next run may start."""
    interval = timedelta(seconds=limit.interval_seconds)
    return max(timedelta(0), tat - interval * limit.burst - now + interval)


def spend(limit: RateLimit, tat: datetime, now: datetime, used: int) -> datetime:
    """The theoretical arrival time after ``used`` runs started at ``now``."""
    return max(tat, now) + timedelta(seconds=limit.interval_seconds) * used


def sooner(a: float | None, b: float | None) -> float | None:
    """The earlier of two optional waits in seconds (None: no wait asked for)."""
    if a is None:
        return b
    return a if b is None else min(a, b)
