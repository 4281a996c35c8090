"""GET a job's status document, list jobs (filters, cursor pagination), cancel and retry."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import pytest

import rota
from tests.api.conftest import Api, Conn, assert_problem, db_state, job_row
from tests.worker.helpers import running_worker, wait_status

DOCUMENT_FIELDS = {
    "jobId",
    "type",
    "queue",
    "tenantId",
    "status",
    "progress",
    "progressMessage",
    "attempt",
    "maxAttempts",
    "priority",
    "result",
    "error",
    "actorId",
    "traceId",
    "requestId",
    "correlationId",
    "idempotencyKey",
    "runAfter",
    "createdAt",
    "startedAt",
    "finishedAt",
    "cancelRequested",
}


def resize(width: int) -> dict[str, Any]:
    return {"type": "images.resize", "payload": {"image": f"{width}.png", "width": width}}


async def _get(api: Api, path: str, token: str | None = None, **params: Any) -> Any:
    response = await api.client.get(path, headers=api.auth(token or api.acme), params=params)
    assert response.status_code == 200, response.text
    return response.json()


# -- the status document ----------------------------------------------------------------------


async def test_status_document_of_a_queued_job(api: Api) -> None:
    posted = await api.enqueue("acme", resize(64), headers={"X-Request-Id": "req-1"})

    document = await _get(api, posted.headers["location"])

    assert set(document) == DOCUMENT_FIELDS
    assert document["jobId"] == posted.json()["jobId"]
    assert (document["type"], document["queue"], document["tenantId"]) == (
        "images.resize",
        "default",
        "acme",
    )
    assert (document["status"], document["attempt"], document["maxAttempts"]) == ("queued", 0, 5)
    assert (document["progress"], document["result"], document["error"]) == (None, None, None)
    assert (document["startedAt"], document["finishedAt"]) == (None, None)
    assert document["traceId"] == posted.json()["traceId"]
    assert document["requestId"] == "req-1"
    assert document["cancelRequested"] is False
    assert datetime.fromisoformat(document["createdAt"]).tzinfo is not None


async def test_status_document_of_a_finished_job(api: Api) -> None:
    job_id = await api.enqueued_id("acme", resize(640))

    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.SUCCEEDED)

    document = await _get(api, f"/v1/tenants/acme/jobs/{job_id}")
    assert (document["status"], document["attempt"], document["result"]) == (
        "succeeded",
        1,
        {"width": 640},
    )
    assert document["error"] is None
    started = datetime.fromisoformat(document["startedAt"])
    assert datetime.fromisoformat(document["createdAt"]) <= started
    assert started <= datetime.fromisoformat(document["finishedAt"])


async def test_error_tracebacks_are_shown_to_operators_only(api: Api) -> None:
    job_id = await api.enqueued_id("acme", {"type": "notes.broken", "payload": {}})
    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.POISONED)
    path = f"/v1/tenants/acme/jobs/{job_id}"

    for token in (api.acme, api.acme_read):
        response = await api.client.get(path, headers=api.auth(token))
        error = response.json()["error"]
        assert error["code"] == "handler_error"
        assert "the disk is on fire" in error["message"]
        assert error.get("traceback") is None
        assert "Traceback" not in response.text
        listing = await api.client.get("/v1/tenants/acme/jobs", headers=api.auth(token))
        assert "Traceback" not in listing.text

    operator = await _get(api, path, api.operator)
    assert "Traceback" in operator["error"]["traceback"]
    assert "the disk is on fire" in operator["error"]["traceback"]
    listing = await _get(api, "/v1/tenants/acme/jobs", api.operator)
    assert "Traceback" in listing["items"][0]["error"]["traceback"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("GET", "/events")],
)
async def test_a_missing_job_is_404(api: Api, db: Conn, method: str, suffix: str) -> None:
    await api.enqueued_id("acme")
    before = await db_state(db)

    response = await api.client.request(
        method, f"/v1/tenants/acme/jobs/{uuid.uuid4()}{suffix}", headers=api.auth(api.acme)
    )

    assert_problem(response, 404, "not_found")
    assert await db_state(db) == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", "/cancel"), ("POST", "/retry"), ("GET", "/events")],
)
async def test_a_job_id_that_is_not_a_uuid_is_422(api: Api, method: str, suffix: str) -> None:
    response = await api.client.request(
        method, f"/v1/tenants/acme/jobs/not-a-uuid{suffix}", headers=api.auth(api.acme)
    )

    problem = assert_problem(response, 422, "invalid_request")
    assert problem["errors"][0]["field"] == "path.job_id"


# -- listing -----------------------------------------------------------------------------------


async def _enqueue_many(api: Api, count: int, tenant: str = "acme") -> list[str]:
    """Job ids, oldest first."""
    return [await api.enqueued_id(tenant, resize(width)) for width in range(1, count + 1)]


async def test_listing_is_newest_first(api: Api) -> None:
    ids = await _enqueue_many(api, 4)

    page = await _get(api, "/v1/tenants/acme/jobs")

    assert [item["jobId"] for item in page["items"]] == ids[::-1]
    assert page["nextCursor"] is None
    assert set(page["items"][0]) == DOCUMENT_FIELDS


async def test_pages_give_every_job_exactly_once(api: Api) -> None:
    ids = await _enqueue_many(api, 7)

    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = await _get(api, "/v1/tenants/acme/jobs", **params)
        seen += [item["jobId"] for item in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert sizes == [3, 3, 1]
    assert seen == ids[::-1]


async def test_a_page_that_ends_exactly_at_the_last_job_has_no_cursor(api: Api) -> None:
    ids = await _enqueue_many(api, 6)

    first = await _get(api, "/v1/tenants/acme/jobs", limit=3)
    second = await _get(api, "/v1/tenants/acme/jobs", limit=3, cursor=first["nextCursor"])

    assert [item["jobId"] for item in first["items"] + second["items"]] == ids[::-1]
    assert second["nextCursor"] is None


async def test_pagination_is_stable_while_jobs_are_inserted(api: Api) -> None:
    ids = await _enqueue_many(api, 7)

    first = await _get(api, "/v1/tenants/acme/jobs", limit=3)
    newer = await _enqueue_many(api, 2)
    second = await _get(api, "/v1/tenants/acme/jobs", limit=3, cursor=first["nextCursor"])
    newest = await _enqueue_many(api, 1)
    third = await _get(api, "/v1/tenants/acme/jobs", limit=3, cursor=second["nextCursor"])

    pages = [first, second, third]
    assert [item["jobId"] for page in pages for item in page["items"]] == ids[::-1]
    assert third["nextCursor"] is None
    fresh = await _get(api, "/v1/tenants/acme/jobs", limit=200)
    assert [item["jobId"] for item in fresh["items"]] == (ids + newer + newest)[::-1]


async def test_listing_filters_by_status_and_type(api: Api) -> None:
    resized = await _enqueue_many(api, 3)
    note = await api.enqueued_id("acme", {"type": "notes.write", "payload": {"text": "hi"}})
    cancel = await api.client.post(
        f"/v1/tenants/acme/jobs/{resized[1]}/cancel", headers=api.auth(api.acme)
    )
    assert cancel.status_code == 202

    def ids(page: dict[str, Any]) -> list[str]:
        return [item["jobId"] for item in page["items"]]

    path = "/v1/tenants/acme/jobs"
    assert ids(await _get(api, path, status="cancelled")) == [resized[1]]
    assert ids(await _get(api, path, status="queued")) == [note, resized[2], resized[0]]
    assert ids(await _get(api, path, type="notes.write")) == [note]
    assert ids(await _get(api, path, type="images.resize", status="queued")) == [
        resized[2],
        resized[0],
    ]
    assert ids(await _get(api, path, status="succeeded")) == []
    assert ids(await _get(api, path, type="no.such.type")) == []


async def test_listing_filters_by_creation_time(api: Api) -> None:
    ids = await _enqueue_many(api, 5)
    created = [(await _get(api, f"/v1/tenants/acme/jobs/{job_id}"))["createdAt"] for job_id in ids]
    assert len(set(created)) == 5

    def listed(page: dict[str, Any]) -> list[str]:
        return [item["jobId"] for item in page["items"]]

    path = "/v1/tenants/acme/jobs"
    after = await _get(api, path, createdAfter=created[2])
    before = await _get(api, path, createdBefore=created[2])
    between = await _get(api, path, createdAfter=created[1], createdBefore=created[4])

    assert listed(after) == ids[2:][::-1]  # inclusive
    assert listed(before) == ids[:2][::-1]  # exclusive
    assert listed(between) == ids[1:4][::-1]
    paged = await _get(api, path, createdAfter=created[1], limit=2)
    rest = await _get(api, path, createdAfter=created[1], limit=2, cursor=paged["nextCursor"])
    assert listed(paged) + listed(rest) == ids[1:][::-1]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not a cursor!", id="not-base64"),
        pytest.param(_b64("hello"), id="no-separator"),
        pytest.param(_b64("2024-01-01T00:00:00+00:00|not-a-uuid"), id="bad-uuid"),
        pytest.param(_b64(f"yesterday|{uuid.uuid4()}"), id="bad-time"),
        pytest.param(_b64(f"2024-01-01T00:00:00|{uuid.uuid4()}"), id="naive-time"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe|x").decode(), id="not-utf8"),
    ],
)
async def test_a_cursor_the_api_did_not_make_is_400(api: Api, cursor: str) -> None:
    response = await api.client.get(
        "/v1/tenants/acme/jobs", params={"cursor": cursor}, headers=api.auth(api.acme)
    )

    assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 201}, id="limit-201"),
        pytest.param({"limit": 500}, id="limit-500"),
        pytest.param({"limit": "ten"}, id="limit-not-a-number"),
        pytest.param({"status": "sleeping"}, id="unknown-status"),
        pytest.param({"createdAfter": "yesterday"}, id="created-after-not-a-time"),
        pytest.param({"createdBefore": "2024-01-01T00:00:00"}, id="created-before-naive"),
        pytest.param({"cursor": "x" * 201}, id="cursor-too-long"),
        pytest.param({"type": ""}, id="empty-type"),
    ],
)
async def test_bad_listing_parameters_are_422(api: Api, params: dict[str, Any]) -> None:
    response = await api.client.get(
        "/v1/tenants/acme/jobs", params=params, headers=api.auth(api.acme)
    )

    problem = assert_problem(response, 422, "invalid_request")
    assert problem["detail"]


async def test_the_largest_page_is_200(api: Api) -> None:
    await _enqueue_many(api, 2)

    page = await _get(api, "/v1/tenants/acme/jobs", limit=200)

    assert len(page["items"]) == 2


# -- cancel and retry --------------------------------------------------------------------------


async def test_cancel_a_queued_job_then_retry_it(api: Api, db: Conn) -> None:
    job_id = await api.enqueued_id("acme")
    base = f"/v1/tenants/acme/jobs/{job_id}"

    cancel = await api.client.post(f"{base}/cancel", headers=api.auth(api.acme))

    assert cancel.status_code == 202
    assert cancel.json() == {"jobId": job_id, "status": "cancelled"}
    assert (await job_row(db, job_id))["status"] == "cancelled"

    retry = await api.client.post(f"{base}/retry", headers=api.auth(api.acme))

    assert retry.status_code == 202
    assert retry.json() == {"jobId": job_id, "status": "queued"}
    assert (await job_row(db, job_id))["status"] == "queued"
    assert (await _get(api, base))["status"] == "queued"
    events = (await _get(api, f"{base}/events"))["items"]
    assert [(e["fromStatus"], e["toStatus"]) for e in events] == [
        ("queued", "cancelled"),
        ("cancelled", "queued"),
    ]


async def test_a_retried_job_runs_again(api: Api) -> None:
    job_id = await api.enqueued_id("acme", resize(32))
    base = f"/v1/tenants/acme/jobs/{job_id}"
    assert (await api.client.post(f"{base}/cancel", headers=api.auth(api.acme))).status_code == 202
    assert (await api.client.post(f"{base}/retry", headers=api.auth(api.acme))).status_code == 202

    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.SUCCEEDED)

    assert (await _get(api, base))["result"] == {"width": 32}


async def test_cancelling_a_finished_job_is_409_and_changes_nothing(api: Api, db: Conn) -> None:
    cancelled = await api.enqueued_id("acme")
    cancel = await api.client.post(
        f"/v1/tenants/acme/jobs/{cancelled}/cancel", headers=api.auth(api.acme)
    )
    assert cancel.status_code == 202
    done = await api.enqueued_id("acme")
    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(done), rota.JobStatus.SUCCEEDED)
    before = await db_state(db)

    for job_id, status in ((done, "succeeded"), (cancelled, "cancelled")):
        response = await api.client.post(
            f"/v1/tenants/acme/jobs/{job_id}/cancel", headers=api.auth(api.acme)
        )
        problem = assert_problem(response, 409, "invalid_state")
        assert status in problem["detail"]

    assert await db_state(db) == before


async def test_retrying_a_queued_or_succeeded_job_is_409_and_changes_nothing(
    api: Api, db: Conn
) -> None:
    done = await api.enqueued_id("acme")
    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(done), rota.JobStatus.SUCCEEDED)
    queued = await api.enqueued_id("acme")
    before = await db_state(db)

    for job_id in (queued, done):
        response = await api.client.post(
            f"/v1/tenants/acme/jobs/{job_id}/retry", headers=api.auth(api.acme)
        )
        assert_problem(response, 409, "invalid_state")

    assert await db_state(db) == before


async def test_a_poisoned_job_can_be_retried(api: Api) -> None:
    job_id = await api.enqueued_id("acme", {"type": "notes.broken", "payload": {}})
    async with running_worker(api.app):
        await wait_status(api.app, uuid.UUID(job_id), rota.JobStatus.POISONED)

    retry = await api.client.post(
        f"/v1/tenants/acme/jobs/{job_id}/retry", headers=api.auth(api.acme)
    )

    assert retry.status_code == 202
    assert retry.json() == {"jobId": job_id, "status": "queued"}


# -- bad input never reaches PostgreSQL as a 5xx -----------------------------------------------


@pytest.mark.parametrize(
    ("token_name", "method", "path", "params"),
    [
        pytest.param("acme", "GET", "/v1/tenants/acme/jobs", {"type": "a\x00b"}, id="type-filter"),
        pytest.param("operator", "GET", "/v1/tenants/a%00b/jobs", {}, id="operator-list"),
        pytest.param("operator", "GET", "/v1/tenants/a%00b/jobs/{id}", {}, id="operator-read"),
        pytest.param(
            "operator", "POST", "/v1/tenants/a%00b/jobs/{id}/cancel", {}, id="operator-cancel"
        ),
        pytest.param(
            "operator", "POST", "/v1/tenants/a%00b/jobs/{id}/retry", {}, id="operator-retry"
        ),
        pytest.param(
            "operator", "GET", "/v1/tenants/a%00b/jobs/{id}/events", {}, id="operator-events"
        ),
    ],
)
async def test_a_nul_byte_in_a_parameter_is_a_client_error(
    api: Api, db: Conn, token_name: str, method: str, path: str, params: dict[str, str]
) -> None:
    job_id = await api.enqueued_id("acme")
    before = await db_state(db)

    response = await api.client.request(
        method,
        path.format(id=job_id),
        params=params,
        headers=api.auth(getattr(api, token_name)),
    )

    assert await db_state(db) == before
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
