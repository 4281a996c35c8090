"""RFC 9457 problem documents: the one table from error code to HTTP status.

Another tenant's job is a 404 exactly like a missing one; bad input is never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rota.errors import RotaError

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_CODE: dict[str, int] = {
    "malformed_json": 400,
    "invalid_cursor": 400,
    "invalid_request": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "idempotency_conflict": 409,
    "invalid_state": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "invalid_payload": 422,
    "invalid_schedule": 422,
    "unknown_job_type": 422,
    "tenant_required": 422,
    "config_invalid": 422,
    "database_unavailable": 503,
    "internal_error": 500,
}

TITLES: dict[str, str] = {
    "malformed_json": "The request body is not valid JSON",
    "invalid_cursor": "The cursor is not valid",
    "invalid_request": "The request is not valid",
    "unauthorized": "Authentication required",
    "forbidden": "The token lacks the scope this needs",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "not_acceptable": "Not acceptable",
    "idempotency_conflict": "The idempotency key was used with a different request",
    "invalid_state": "The job's state does not allow this",
    "payload_too_large": "The request or payload is too large",
    "unsupported_media_type": "Send application/json",
    "invalid_payload": "The payload does not match the job type",
    "invalid_schedule": "The schedule is not valid",
    "unknown_job_type": "Unknown job type",
    "tenant_required": "A tenant is required",
    "config_invalid": "Invalid value",
    "database_unavailable": "The database is unavailable",
    "internal_error": "Internal error",
}


class ApiError(Exception):
    """An error raised by the API layer itself (auth, cursors, media types)."""

    def __init__(self, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def problem(
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    status = STATUS_BY_CODE.get(code, 500)
    body: dict[str, Any] = {
        "type": f"urn:rota:problem:{code}",
        "title": TITLES.get(code, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def handle_api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return problem(error.code, error.detail, instance=request.url.path, headers=error.headers)


async def handle_rota_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RotaError)
    errors = error.details.get("errors")
    return problem(error.code, error.message, instance=request.url.path, errors=errors)


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = list(error.errors())
    content_type = request.headers.get("content-type", "")
    has_body_error = any(item.get("loc", ("",))[0] == "body" for item in items)
    if has_body_error and content_type and "json" not in content_type:
        return problem(
            "unsupported_media_type",
            f"send the body as application/json, not {content_type.split(';')[0]}",
            instance=request.url.path,
        )
    if any(item.get("type") == "json_invalid" for item in items):
        return problem("malformed_json", "the body is not valid JSON", instance=request.url.path)
    field_errors = [
        {
            "field": ".".join(str(p) for p in item.get("loc", ()) if p != "body"),
            "message": str(item.get("msg", "invalid")),
        }
        for item in items
    ]
    first = field_errors[0] if field_errors else {"field": "", "message": "invalid"}
    return problem(
        "invalid_request",
        f"{first['field'] or 'request'}: {first['message']}",
        instance=request.url.path,
        errors=field_errors,
    )


async def handle_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}.get(
        error.status_code, "invalid_request"
    )
    detail = "no such resource" if code == "not_found" else str(error.detail)
    return problem(code, detail, instance=request.url.path)


async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
    return problem("internal_error", "an unexpected error occurred", instance=request.url.path)
