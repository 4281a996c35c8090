"""Retry backoff: exponential with full jitter, capped. Randomness is an argument."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Backoff:
    """``base * 2**(attempt-1)`` capped at ``cap``, then jittered into ``[(1-jitter)*d, d]``.

    Example:
        >>> Backoff(base=timedelta(seconds=1)).delay(3, random=lambda: 1.0)
        datetime.timedelta(seconds=4)
    """

    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < timedelta(0) or self.cap < self.base:
            raise ValueError("backoff needs 0 <= base <= cap")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be within [0, 1]")

    def delay(self, attempt: int, random: Callable[[], float] = random.random) -> timedelta:
        exponent = min(max(attempt - 1, 0), 62)
        # In float seconds: a timedelta of base * 2**62 would overflow.
        full = min(self.base.total_seconds() * float(1 << exponent), self.cap.total_seconds())
        factor = 1.0 - self.jitter * (1.0 - random())
        return timedelta(seconds=full * factor)
