"""POST /v1/tenants/{tenant}/jobs: 202 + Location, validation errors that write nothing,
idempotency (replay, conflict, concurrent requests) and correlation ids."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api, Conn, StartApi, assert_problem, db_state, job_row

HEX32 = re.compile(r"^[0-9a-f]{32}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
RESIZE = {"type": "images.resize", "payload": {"image": "cat.png", "width": 64}}
DEFAULT_BODY_CAP = 64 * 1024 + 8 * 1024  # payload_max_bytes + the envelope allowance


async def test_enqueue_answers_202_with_location_and_status_url(api: Api, db: Conn) -> None:
    response = await api.enqueue("acme", RESIZE)

    assert response.status_code == 202
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"jobId", "status", "statusUrl", "traceId"}
    job_id = str(uuid.UUID(body["jobId"]))
    assert body["status"] == "queued"
    assert body["statusUrl"] == f"/v1/tenants/acme/jobs/{job_id}"
    assert response.headers["location"] == body["statusUrl"]
    assert HEX32.match(body["traceId"])
    row = await job_row(db, job_id)
    assert (row["tenant_id"], row["type"], row["status"]) == ("acme", "images.resize", "queued")
    assert row["payload"] == {"image": "cat.png", "width": 64}
    assert row["trace_id"] == body["traceId"]

    status = await api.client.get(response.headers["location"], headers=api.auth(api.acme))
    assert status.status_code == 200
    assert status.json()["jobId"] == job_id


async def test_enqueue_stores_the_optional_envelope_fields(api: Api, db: Conn) -> None:
    run_after = datetime.now(UTC) + timedelta(hours=1)
    body = {
        **RESIZE,
        "runAfter": run_after.isoformat(),
        "priority": -5,
        "actorId": "user_7",
        "correlationId": "order-42",
    }
    response = await api.enqueue("acme", body)

    assert response.status_code == 202, response.text
    row = await job_row(db, response.json()["jobId"])
    assert row["run_after"] == run_after
    assert (row["priority"], row["actor_id"], row["correlation_id"]) == (-5, "user_7", "order-42")
    document = (
        await api.client.get(response.headers["location"], headers=api.auth(api.acme))
    ).json()
    assert document["priority"] == -5
    assert document["actorId"] == "user_7"
    assert datetime.fromisoformat(document["runAfter"]) == run_after


def _json(body: Any) -> dict[str, Any]:
    return {"content": json.dumps(body).encode(), "content_type": "application/json"}


REJECTED_BODIES = [
    pytest.param(
        {"content": b'{"type": "images.resize", "payload": {', "content_type": "application/json"},
        400,
        "malformed_json",
        id="malformed-json",
    ),
    pytest.param(
        {"content": b"[1, 2", "content_type": "application/json"},
        400,
        "malformed_json",
        id="truncated-array",
    ),
    pytest.param(
        {"content": json.dumps(RESIZE).encode(), "content_type": "text/plain"},
        415,
        "unsupported_media_type",
        id="text-plain",
    ),
    pytest.param(
        {"content": b"type=images.resize", "content_type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
        id="form-urlencoded",
    ),
    pytest.param(
        _json({"type": "no.such.type", "payload": {}}), 422, "unknown_job_type", id="unknown-type"
    ),
    pytest.param(
        _json({"type": "maintenance.vacuum", "payload": {}}),
        422,
        "tenant_required",
        id="system-type-for-a-tenant",
    ),
    pytest.param(_json({**RESIZE, "bogus": 1}), 422, "invalid_request", id="extra-envelope-field"),
    pytest.param(_json({"payload": {}}), 422, "invalid_request", id="missing-type"),
    pytest.param(
        _json({"type": "images.resize", "payload": [1, 2]}),
        422,
        "invalid_request",
        id="payload-not-an-object",
    ),
    pytest.param(_json({**RESIZE, "priority": 40_000}), 422, "invalid_request", id="priority"),
    pytest.param(
        _json({**RESIZE, "runAfter": "2030-01-01T00:00:00"}),
        422,
        "invalid_request",
        id="run-after-without-zone",
    ),
    pytest.param(_json([RESIZE]), 422, "invalid_request", id="body-is-a-list"),
    pytest.param(
        {"content": b"", "content_type": "application/json"},
        422,
        "invalid_request",
        id="empty-body",
    ),
    pytest.param(
        _json({"type": "notes.write", "payload": {"text": "x" * DEFAULT_BODY_CAP}}),
        413,
        "payload_too_large",
        id="body-over-the-request-cap",
    ),
]


@pytest.mark.parametrize(("request_body", "status", "code"), REJECTED_BODIES)
async def test_rejected_enqueue_writes_nothing(
    api: Api, db: Conn, request_body: dict[str, Any], status: int, code: str
) -> None:
    before = await db_state(db)

    response = await api.client.post(
        "/v1/tenants/acme/jobs",
        content=request_body["content"],
        headers=api.auth(api.acme, **{"Content-Type": request_body["content_type"]}),
    )

    assert_problem(response, status, code)
    assert await db_state(db) == before


async def test_invalid_payload_lists_every_field_error(api: Api, db: Conn) -> None:
    before = await db_state(db)
    body = {"type": "images.resize", "payload": {"width": 0, "colour": "red"}}

    response = await api.enqueue("acme", body)

    problem = assert_problem(response, 422, "invalid_payload")
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"image", "width", "colour"}
    assert all(error["message"] for error in problem["errors"])
    assert await db_state(db) == before


async def test_idempotency_key_header_and_body_field_must_agree(api: Api, db: Conn) -> None:
    before = await db_state(db)

    response = await api.enqueue(
        "acme", {**RESIZE, "idempotencyKey": "one"}, headers={"Idempotency-Key": "two"}
    )

    assert_problem(response, 422, "invalid_request")
    assert await db_state(db) == before


async def test_payload_over_its_cap_is_413_even_when_the_body_fits(
    start_api: StartApi, db: Conn
) -> None:
    api = await start_api(payload_max_bytes=1024)
    before = await db_state(db)
    body = {"type": "notes.write", "payload": {"text": "x" * 2000}}
    assert len(json.dumps(body)) < 1024 + 8 * 1024  # under the request cap

    response = await api.enqueue("acme", body)

    problem = assert_problem(response, 413, "payload_too_large")
    assert "1024" in problem["detail"]
    assert await db_state(db) == before
    small = await api.enqueue("acme", {"type": "notes.write", "payload": {"text": "x" * 900}})
    assert small.status_code == 202


async def test_chunked_body_over_the_cap_is_413(api: Api, db: Conn) -> None:
    """Without Content-Length the cap is enforced while reading (BodyLimit raises inside the
    route), and FastAPI turns that into 'There was an error parsing the body'."""
    before = await db_state(db)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "notes.write", "payload": {"text": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}}'

    response = await api.client.post(
        "/v1/tenants/acme/jobs",
        content=chunks(),
        headers=api.auth(api.acme, **{"Content-Type": "application/json"}),
    )

    assert "content-length" not in response.request.headers
    assert await db_state(db) == before
    assert_problem(response, 413, "payload_too_large")


async def test_chunked_body_under_the_cap_is_accepted(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield json.dumps(RESIZE).encode()

    response = await api.client.post(
        "/v1/tenants/acme/jobs",
        content=chunks(),
        headers=api.auth(api.acme, **{"Content-Type": "application/json"}),
    )

    assert response.status_code == 202, response.text


# -- idempotency ------------------------------------------------------------------------------


async def _jobs_with_key(db: Conn, key: str) -> list[dict[str, Any]]:
    cursor = await db.execute("SELECT * FROM jobs WHERE idempotency_key = %s", (key,))
    return await cursor.fetchall()


async def test_idempotent_replay_returns_200_and_the_same_job(api: Api, db: Conn) -> None:
    first = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "order-1"})
    replay = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "order-1"})
    by_field = await api.enqueue("acme", {**RESIZE, "idempotencyKey": "order-1"})

    assert first.status_code == 202
    assert replay.status_code == 200
    assert by_field.status_code == 200
    job_id = first.json()["jobId"]
    for response in (replay, by_field):
        assert response.json()["jobId"] == job_id
        assert response.json()["status"] == "queued"
        assert response.json()["traceId"] == first.json()["traceId"]
        assert response.headers["location"] == first.headers["location"]
    assert [row["id"] for row in await _jobs_with_key(db, "order-1")] == [uuid.UUID(job_id)]


async def test_idempotent_replay_reports_the_jobs_current_status(api: Api) -> None:
    first = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "k"})
    job_id = first.json()["jobId"]
    cancel = await api.client.post(
        f"/v1/tenants/acme/jobs/{job_id}/cancel", headers=api.auth(api.acme)
    )
    assert cancel.status_code == 202

    replay = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "k"})

    assert replay.status_code == 200
    assert replay.json() == {**first.json(), "status": "cancelled"}


async def test_idempotency_key_reused_with_another_body_is_409(api: Api, db: Conn) -> None:
    first = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "order-2"})
    assert first.status_code == 202
    before = await db_state(db)
    other = {"type": "images.resize", "payload": {"image": "dog.png", "width": 64}}

    response = await api.enqueue("acme", other, headers={"Idempotency-Key": "order-2"})

    assert_problem(response, 409, "idempotency_conflict")
    assert await db_state(db) == before


async def test_idempotency_keys_belong_to_one_tenant(api: Api, db: Conn) -> None:
    acme = await api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "shared"})
    globex = await api.enqueue("globex", RESIZE, headers={"Idempotency-Key": "shared"})

    assert (acme.status_code, globex.status_code) == (202, 202)
    assert acme.json()["jobId"] != globex.json()["jobId"]
    rows = await _jobs_with_key(db, "shared")
    assert sorted(row["tenant_id"] for row in rows) == ["acme", "globex"]


async def test_concurrent_requests_with_one_key_make_one_job(api: Api, db: Conn) -> None:
    responses = await asyncio.gather(
        *(api.enqueue("acme", RESIZE, headers={"Idempotency-Key": "burst"}) for _ in range(20))
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 19 + [202], [r.text for r in responses]
    assert len({response.json()["jobId"] for response in responses}) == 1
    rows = await _jobs_with_key(db, "burst")
    assert [str(row["id"]) for row in rows] == [responses[0].json()["jobId"]]


# -- correlation -------------------------------------------------------------------------------


async def test_traceparent_and_request_id_are_stored_and_echoed(api: Api, db: Conn) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"

    response = await api.enqueue(
        "acme", RESIZE, headers={"traceparent": traceparent, "X-Request-Id": "req-123"}
    )

    assert response.status_code == 202
    assert response.headers["traceparent"] == traceparent
    assert response.headers["x-request-id"] == "req-123"
    assert response.json()["traceId"] == trace_id
    row = await job_row(db, response.json()["jobId"])
    assert (row["trace_id"], row["traceparent"], row["request_id"]) == (
        trace_id,
        traceparent,
        "req-123",
    )
    document = (
        await api.client.get(response.headers["location"], headers=api.auth(api.acme))
    ).json()
    assert (document["traceId"], document["requestId"]) == (trace_id, "req-123")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="absent"),
        pytest.param(
            {"traceparent": "not-a-traceparent", "X-Request-Id": "has spaces in it"},
            id="malformed",
        ),
        pytest.param(
            {"traceparent": f"00-{'0' * 32}-{'1' * 16}-01", "X-Request-Id": "x" * 129},
            id="zero-trace-id-and-long-request-id",
        ),
    ],
)
async def test_missing_or_bad_correlation_ids_are_generated(
    api: Api, db: Conn, headers: dict[str, str]
) -> None:
    response = await api.enqueue("acme", RESIZE, headers=headers)

    assert response.status_code == 202
    match = TRACEPARENT.match(response.headers["traceparent"])
    assert match is not None, response.headers["traceparent"]
    trace_id = match.group(1)
    assert trace_id != "0" * 32
    assert response.json()["traceId"] == trace_id
    request_id = response.headers["x-request-id"]
    assert request_id
    assert request_id != headers.get("X-Request-Id")
    row = await job_row(db, response.json()["jobId"])
    assert (row["trace_id"], row["request_id"]) == (trace_id, request_id)
    assert row["traceparent"] == response.headers["traceparent"]


async def test_errors_echo_the_correlation_ids_too(api: Api) -> None:
    response = await api.enqueue(
        "acme", {"type": "no.such.type"}, headers={"X-Request-Id": "req-err"}
    )

    assert_problem(response, 422, "unknown_job_type")
    assert response.headers["x-request-id"] == "req-err"
    assert TRACEPARENT.match(response.headers["traceparent"])


async def test_an_oversized_body_is_answered_with_the_correlation_ids(api: Api) -> None:
    body = {"type": "notes.write", "payload": {"text": "x" * DEFAULT_BODY_CAP}}

    response = await api.enqueue("acme", body, headers={"X-Request-Id": "req-big"})

    assert_problem(response, 413, "payload_too_large")
    assert response.headers.get("x-request-id") == "req-big"
    assert TRACEPARENT.match(response.headers.get("traceparent", ""))
