"""Rate limits and claim fairness settings as values. No I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from rota.errors import JobTypeError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``runs`` starts per ``per_seconds`` (a burst of ``runs``, then one start every
    ``per_seconds / runs``), counted across every worker."""

    runs: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.runs < 1 or self.per_seconds <= 0:
            raise JobTypeError("a rate limit needs runs >= 1 and per_seconds > 0")

    @property
    def interval_seconds(self) -> float:
        return self.per_seconds / self.runs


def grant_runs(limit: RateLimit, tat: datetime, now: datetime, wanted: int) -> tuple[int, datetime]:
    """GCRA: how many of ``wanted`` runs may start at ``now`` given the limit's theoretical
    arrival time ``tat``; returns the grant and the time to store when all granted runs are
    used (for fewer, use ``spend``)."""
    base = max(tat, now)
    interval = timedelta(seconds=limit.interval_seconds)
    allowance = (now + interval * limit.runs - base) / interval
    runs = max(0, min(wanted, math.floor(allowance + 1e-9)))
    return runs, base + interval * runs


def spend(limit: RateLimit, tat: datetime, now: datetime, used: int) -> datetime:
    """The theoretical arrival time after ``used`` runs started at ``now``."""
    return max(tat, now) + timedelta(seconds=limit.interval_seconds) * used
