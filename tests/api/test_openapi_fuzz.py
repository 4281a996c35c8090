"""Schemathesis against the live server's /openapi.json: for every operation, generated valid
and invalid requests (with an operator and a tenant token) never get a 5xx, and every response
conforms to the document.

Hypothesis runs in a worker thread (schemathesis sends with ``requests``, which blocks), while
the server keeps serving on the test's event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api.conftest import Api

EXAMPLES_PER_RUN = 50  # per operation, token and generation mode
REQUEST_TIMEOUT = 10.0  # a stream left open would fail the case instead of hanging
CHECKS = [not_a_server_error, response_schema_conformance]
# The message of the one 5xx this run is known to find; any other failure fails the test.
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@dataclass
class Report:
    operations: list[str] = field(default_factory=list)
    calls: int = 0
    statuses: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    without_negative_cases: list[str] = field(default_factory=list)


def fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    auth: dict[str, str],
    base_url: str,
    report: Report,
) -> None:
    """Run one operation's generated cases; raises on the first (shrunk) failing case."""

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_RUN,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=auth, timeout=REQUEST_TIMEOUT)
        report.calls += 1
        report.statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=auth)

    run()


def fuzz(document: dict[str, Any], base_url: str, tokens: dict[str, str]) -> Report:
    schema = schemathesis.openapi.from_dict(document)
    report = Report()
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations.append(operation.label)
        for who, token in tokens.items():
            for mode in MODES:
                auth = {"Authorization": f"Bearer {token}"}
                try:
                    fuzz_operation(operation, mode, auth, base_url, report)
                except hypothesis.errors.Unsatisfiable:
                    # Nothing in the operation can be made invalid (e.g. /healthz).
                    if mode is not schemathesis.GenerationMode.NEGATIVE:
                        raise
                    report.without_negative_cases.append(operation.label)
                except (Exception, BaseExceptionGroup) as error:  # collect, then fail once
                    report.failures.append(f"{operation.label} [{who}, {mode.value}]: {error}")
    return report


async def test_generated_requests_get_no_5xx_and_conforming_responses(api: Api) -> None:
    await api.enqueued_id("acme")
    document = (await api.client.get("/openapi.json")).json()
    tokens = {"operator": api.operator, "tenant": api.acme}

    report = await asyncio.to_thread(fuzz, document, api.url, tokens)

    assert not report.failures, "\n\n".join(report.failures)
    assert "POST /v1/tenants/{tenant}/jobs" in report.operations
    assert "GET /v1/tenants/{tenant}/jobs/{job_id}/events" in report.operations
    assert report.calls >= len(report.operations) * len(tokens) * len(MODES)
    assert not any(status >= 500 for status in report.statuses)
