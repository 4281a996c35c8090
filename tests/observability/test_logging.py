"""JSON logs carry the job's fields, so the enqueuing side's trace id finds the job's lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rota
from rota.observability.logging import configure_logging
from tests.worker.helpers import running_worker, wait_status


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    yield stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rota", False):
            root.removeHandler(handler)


async def test_worker_and_handler_lines_carry_the_envelope(
    make_app: Callable[..., rota.App], log_stream: io.StringIO
) -> None:
    app = make_app()

    @app.job("logs.hello")
    def hello(ctx: rota.JobContext, payload: dict[str, Any]) -> None:
        ctx.logger.info("inside the handler")
        logging.getLogger("some.library").info("a library line")

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    job = await app.enqueue(
        "logs.hello",
        {},
        tenant_id="acme",
        actor_id="user_9",
        traceparent=traceparent,
        request_id="req-77",
    )
    async with running_worker(app):
        await wait_status(app, job.id, rota.JobStatus.SUCCEEDED)
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("trace_id") == "0af7651916cd43dd8448eb211c80319c"]
    events = {line["event"] for line in mine}
    assert {"job started", "inside the handler", "a library line", "job succeeded"} <= events
    for line in mine:
        assert line["job_id"] == str(job.id)
        assert line["type"] == "logs.hello"
        assert line["tenant_id"] == "acme"
        assert line["actor_id"] == "user_9"
        assert line["attempt"] == 1
        assert line["request_id"] == "req-77"
        assert line["run_id"]
    await app.close()
