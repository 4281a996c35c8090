"""GET .../jobs/{id}/events: the JSON list, and the live text/event-stream that ends with the
job's terminal transition."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import BaseModel

import rota
from tests.api.conftest import Api, assert_problem
from tests.worker.helpers import running_worker, wait_status

EVENT_FIELDS = {
    "id",
    "kind",
    "fromStatus",
    "toStatus",
    "attempt",
    "errorCode",
    "message",
    "progress",
    "at",
}
STREAM_TIMEOUT = 30.0


class Report(BaseModel):
    pages: int = 3


async def sse_frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The stream's events as {"id", "event", "data"} (data parsed), comments skipped."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in frame:
                yield {**frame, "data": json.loads(frame["data"])}
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            frame[field] = value.removeprefix(" ")
    assert not frame, f"the stream ended inside a frame: {frame}"


def stream_headers(api: Api, **extra: str) -> dict[str, str]:
    return api.auth(api.acme, Accept="text/event-stream", **extra)


def gated_report(app: rota.App) -> asyncio.Event:
    """Register reports.build: it waits for the returned gate, reports progress twice, and
    succeeds."""
    gate = asyncio.Event()

    @app.job("reports.build")
    async def build(ctx: rota.JobContext, payload: Report) -> dict[str, int]:
        await gate.wait()
        await ctx.progress(30, "rendering")
        await ctx.progress(80, "uploading")
        return {"pages": payload.pages}

    return gate


def summary(frames: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    return [
        (
            frame["event"],
            frame["data"]["toStatus"] or frame["data"]["progress"],
            frame["data"]["message"] if frame["event"] == "progress" else None,
        )
        for frame in frames
    ]


async def test_event_stream_delivers_progress_and_ends_with_the_terminal_transition(
    api: Api,
) -> None:
    gate = gated_report(api.app)
    job_id = await api.enqueued_id("acme", {"type": "reports.build", "payload": {}})
    url = f"/v1/tenants/acme/jobs/{job_id}/events"

    async with (
        asyncio.timeout(STREAM_TIMEOUT),
        running_worker(api.app),
        api.client.stream("GET", url, headers=stream_headers(api)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        frames_iter = sse_frames(response)
        first = await anext(frames_iter)  # connected: the job is running, gated
        assert (first["event"], first["data"]["toStatus"]) == ("transition", "running")
        gate.set()
        frames = [first] + [frame async for frame in frames_iter]  # ends by itself

    assert summary(frames) == [
        ("transition", "running", None),
        ("progress", 30, "rendering"),
        ("progress", 80, "uploading"),
        ("transition", "succeeded", None),
    ]
    ids = [int(frame["id"]) for frame in frames]
    assert ids == sorted(set(ids))
    assert [frame["data"]["id"] for frame in frames] == ids
    assert all(set(frame["data"]) == EVENT_FIELDS for frame in frames)
    assert frames[-1]["data"]["fromStatus"] == "running"


async def test_event_stream_of_a_finished_job_replays_and_ends(api: Api) -> None:
    gate = gated_report(api.app)
    gate.set()
    job_id = await api.enqueued_id("acme", {"type": "reports.build", "payload": {}})
    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.SUCCEEDED)
    url = f"/v1/tenants/acme/jobs/{job_id}/events"

    async with asyncio.timeout(STREAM_TIMEOUT):
        async with api.client.stream("GET", url, headers=stream_headers(api)) as response:
            frames = [frame async for frame in sse_frames(response)]
        second = frames[1]["id"]
        async with api.client.stream(
            "GET", url, headers=stream_headers(api, **{"Last-Event-ID": second})
        ) as response:
            resumed = [frame async for frame in sse_frames(response)]

    assert [frame["event"] for frame in frames] == [
        "transition",
        "progress",
        "progress",
        "transition",
    ]
    assert resumed == frames[2:]


async def test_event_stream_ends_when_the_job_is_cancelled(api: Api) -> None:
    job_id = await api.enqueued_id("acme")
    url = f"/v1/tenants/acme/jobs/{job_id}/events"

    async with asyncio.timeout(STREAM_TIMEOUT):
        async with api.client.stream("GET", url, headers=stream_headers(api)) as response:
            assert response.status_code == 200
            cancel = await api.client.post(
                f"/v1/tenants/acme/jobs/{job_id}/cancel", headers=api.auth(api.acme)
            )
            assert cancel.status_code == 202
            frames = [frame async for frame in sse_frames(response)]

    assert summary(frames) == [("transition", "cancelled", None)]


async def test_events_list_has_transitions_and_progress_in_order(api: Api) -> None:
    gate = gated_report(api.app)
    gate.set()
    job_id = await api.enqueued_id("acme", {"type": "reports.build", "payload": {}})
    url = f"/v1/tenants/acme/jobs/{job_id}/events"
    empty = await api.client.get(url, headers=api.auth(api.acme))
    assert empty.status_code == 200
    assert empty.json() == {"items": []}

    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.SUCCEEDED)
    response = await api.client.get(url, headers=api.auth(api.acme_read))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    items = response.json()["items"]
    assert all(set(item) == EVENT_FIELDS for item in items)
    assert [
        (item["kind"], item["fromStatus"], item["toStatus"], item["progress"]) for item in items
    ] == [
        ("transition", "queued", "running", None),
        ("progress", None, None, 30),
        ("progress", None, None, 80),
        ("transition", "running", "succeeded", None),
    ]
    assert all(item["attempt"] == 1 for item in items)
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)


async def test_event_stream_of_a_missing_job_is_a_404_problem(api: Api) -> None:
    url = f"/v1/tenants/acme/jobs/{uuid.uuid4()}/events"

    async with asyncio.timeout(STREAM_TIMEOUT):
        async with api.client.stream("GET", url, headers=stream_headers(api)) as response:
            await response.aread()

    assert_problem(response, 404, "not_found")
