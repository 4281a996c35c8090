from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rota.core.retry import Backoff


def test_backoff_doubles_per_attempt_without_jitter() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(hours=1), jitter=0.0)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=10), jitter=0.0)
    assert backoff.delay(50) == timedelta(seconds=10)


@given(attempt=st.integers(min_value=1, max_value=200), draw=st.floats(0.0, 1.0))
def test_jitter_stays_within_half_and_full_delay(attempt: int, draw: float) -> None:
    backoff = Backoff(base=timedelta(seconds=2), cap=timedelta(minutes=30), jitter=0.5)
    full = timedelta(seconds=min(2.0 * 2.0 ** (attempt - 1), 1800.0))
    delay = backoff.delay(attempt, random=lambda: draw)
    assert full * 0.5 - timedelta(microseconds=1) <= delay <= full


def test_backoff_rejects_cap_below_base() -> None:
    with pytest.raises(ValueError, match="base <= cap"):
        Backoff(base=timedelta(seconds=5), cap=timedelta(seconds=1))
