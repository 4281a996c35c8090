"""The state machine as data: allowed transitions and the one function that picks the next state.

The store performs only transitions this module allows.
"""

from __future__ import annotations

from typing import assert_never

from rota.core.job import Cancelled, Errored, FailedFatally, JobStatus, Outcome, Succeeded

Q, R = JobStatus.QUEUED, JobStatus.RUNNING
S, F, P, C = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.POISONED, JobStatus.CANCELLED

ALLOWED_TRANSITIONS: frozenset[tuple[JobStatus, JobStatus]] = frozenset(
    {
        (Q, R),  # claim
        (Q, C),  # cancel a queued job
        (R, S),  # handler returned
        (R, Q),  # retryable error, lease expired, released at shutdown
        (R, F),  # rota.Fatal, invalid payload, unknown type at run time
        (R, P),  # attempts exhausted
        (R, C),  # handler honoured a cancel request
        (F, Q),  # operator retry
        (P, Q),  # operator retry
        (C, Q),  # operator retry
    }
)

RETRYABLE_BY_OPERATOR = frozenset({F, P, C})
CANCELLABLE = frozenset({Q, R})


def is_allowed(source: JobStatus, target: JobStatus) -> bool:
    return (source, target) in ALLOWED_TRANSITIONS


def next_state(outcome: Outcome, attempt: int, max_attempts: int) -> JobStatus:
    """The status a running job moves to after ``outcome`` of its ``attempt``-th run.

    The attempt is counted at claim, so ``attempt`` is the number of runs started so far.
    """
    match outcome:
        case Succeeded():
            return S
        case Errored():
            return P if attempt >= max_attempts else Q
        case FailedFatally():
            return F
        case Cancelled():
            return C
        case _:
            assert_never(outcome)
