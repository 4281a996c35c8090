from __future__ import annotations

import pytest

from rota.core.job import Cancelled, Errored, FailedFatally, JobError, JobStatus, Succeeded
from rota.core.states import ALLOWED_TRANSITIONS, is_allowed, next_state

ERROR = JobError("boom", "boom")


def test_success_ends_succeeded() -> None:
    assert next_state(Succeeded(), attempt=1, max_attempts=3) is JobStatus.SUCCEEDED


def test_retryable_error_requeues_while_attempts_remain() -> None:
    assert next_state(Errored(ERROR), attempt=2, max_attempts=3) is JobStatus.QUEUED


def test_exhausted_retries_poison_the_job() -> None:
    assert next_state(Errored(ERROR), attempt=3, max_attempts=3) is JobStatus.POISONED


def test_fatal_error_fails_without_retry_even_with_attempts_left() -> None:
    assert next_state(FailedFatally(ERROR), attempt=1, max_attempts=5) is JobStatus.FAILED


def test_cancelled_run_ends_cancelled() -> None:
    assert next_state(Cancelled(), attempt=1, max_attempts=5) is JobStatus.CANCELLED


@pytest.mark.parametrize("terminal", [JobStatus.SUCCEEDED])
def test_succeeded_is_final(terminal: JobStatus) -> None:
    assert not any(source is terminal for source, _ in ALLOWED_TRANSITIONS)


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.POISONED, JobStatus.CANCELLED])
def test_operator_retry_is_allowed_only_from_dead_states(status: JobStatus) -> None:
    assert is_allowed(status, JobStatus.QUEUED)
    assert not is_allowed(JobStatus.SUCCEEDED, JobStatus.QUEUED)


def test_every_state_reachable_from_queued() -> None:
    reached = {JobStatus.QUEUED}
    frontier = [JobStatus.QUEUED]
    while frontier:
        source = frontier.pop()
        for a, b in ALLOWED_TRANSITIONS:
            if a is source and b not in reached:
                reached.add(b)
                frontier.append(b)
    assert reached == set(JobStatus)
