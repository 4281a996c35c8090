"""Job types and the registry: type-key rules, payload validation and the payload size cap."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from rota.core.limits import RateLimit
from rota.core.retry import Backoff
from rota.core.schedule import SystemSchedule
from rota.errors import (
    InvalidPayload,
    JobTypeError,
    PayloadTooLarge,
    TenantRequired,
    UnknownJobType,
)

TYPE_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:\-]{0,127}$")
QUEUE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:\-]{0,63}$")
TENANT_MAX_LENGTH = 128
ENVELOPE_TEXT_MAX_LENGTH = 256

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class JobType:
    """One registered job type: its handler and how its jobs are run."""

    key: str
    handler: Handler
    payload_model: type[BaseModel] | None
    queue: str
    max_attempts: int
    timeout: timedelta
    concurrency: int | None
    priority: int
    backoff: Backoff
    is_system: bool
    is_async: bool
    global_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    tenant_rate_limit: RateLimit | None = None

    def parse_payload(self, payload: Mapping[str, Any]) -> Any:
        """The handler's argument: a model instance, or the dict when the type has no model."""
        if self.payload_model is None:
            return dict(payload)
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as error:
            raise InvalidPayload(
                f"payload does not match {self.key}: {_first_error(error)}",
                errors=_field_errors(error),
            ) from None


class Registry:
    """Every job type an application knows, by key."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}
        self.queue_concurrency: dict[str, int] = {}
        self.queue_fairness: dict[str, bool] = {}
        self.schedules: dict[str, SystemSchedule] = {}

    def add_schedule(self, schedule: SystemSchedule) -> None:
        """Declare a system schedule; its job type must be a registered system job type."""
        job_type = self.get(schedule.job_type)
        if not job_type.is_system:
            raise JobTypeError(
                f"{job_type.key} is a user job; schedules in code enqueue system jobs "
                "(declare it with system=True, or use a tenant's schedule)"
            )
        if schedule.key in self.schedules:
            raise JobTypeError(f"schedule {schedule.key!r} is declared twice")
        self.schedules[schedule.key] = schedule

    def configure_queue(self, queue: str, concurrency: int | None, fair: bool | None) -> None:
        """Per-process ``concurrency`` of ``queue``, and whether it is claimed fairly across
        tenants (with limits) or in plain FIFO order."""
        if not QUEUE_PATTERN.match(queue):
            raise JobTypeError(f"queue {queue!r} must match {QUEUE_PATTERN.pattern}")
        if concurrency is not None:
            if concurrency < 1:
                raise JobTypeError(f"queue {queue}: concurrency must be at least 1")
            self.queue_concurrency[queue] = concurrency
        if fair is not None:
            self.queue_fairness[queue] = fair

    def register(
        self,
        key: str,
        handler: Handler,
        *,
        queue: str,
        max_attempts: int,
        timeout: timedelta,
        concurrency: int | None,
        priority: int,
        backoff: Backoff,
        is_system: bool,
        payload_model: type[BaseModel] | None = None,
        global_concurrency: int | None = None,
        rate_limit: RateLimit | None = None,
        tenant_rate_limit: RateLimit | None = None,
    ) -> JobType:
        """Add a job type.

        Raises:
            JobTypeError: the key is malformed or already taken, or an option is out of range.
        """
        check_type_key(key)
        if not QUEUE_PATTERN.match(queue):
            raise JobTypeError(f"queue {queue!r} must match {QUEUE_PATTERN.pattern}")
        if key in self._types:
            raise JobTypeError(f"job type {key!r} is registered twice")
        if not 1 <= max_attempts <= 1000:
            raise JobTypeError(f"{key}: max_attempts must be within 1..1000")
        if timeout <= timedelta(0):
            raise JobTypeError(f"{key}: timeout must be positive")
        if concurrency is not None and concurrency < 1:
            raise JobTypeError(f"{key}: concurrency must be at least 1")
        if global_concurrency is not None and global_concurrency < 1:
            raise JobTypeError(f"{key}: global_concurrency must be at least 1")
        if not -32768 <= priority <= 32767:
            raise JobTypeError(f"{key}: priority must fit in a smallint")
        model = payload_model or _payload_model_of(handler, key)
        job_type = JobType(
            key=key,
            handler=handler,
            payload_model=model,
            queue=queue,
            max_attempts=max_attempts,
            timeout=timeout,
            concurrency=concurrency,
            priority=priority,
            backoff=backoff,
            is_system=is_system,
            is_async=inspect.iscoroutinefunction(handler),
            global_concurrency=global_concurrency,
            rate_limit=rate_limit,
            tenant_rate_limit=tenant_rate_limit,
        )
        self._types[key] = job_type
        return job_type

    def get(self, key: str) -> JobType:
        try:
            return self._types[key]
        except KeyError:
            raise UnknownJobType(f"unknown job type {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._types

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def queues(self) -> list[str]:
        return sorted({job_type.queue for job_type in self._types.values()})


def check_type_key(key: str) -> None:
    if not isinstance(key, str) or not TYPE_KEY_PATTERN.match(key):
        raise JobTypeError(
            f"job type {key!r} must be 1-128 characters of a-z, 0-9, '.', '_', '-', ':'"
        )


def check_tenant(job_type: JobType, tenant_id: str | None) -> str | None:
    """The tenant rule: user jobs need a tenant; system jobs have none."""
    if job_type.is_system:
        if tenant_id is not None:
            raise TenantRequired(f"{job_type.key} is a system job and takes no tenant_id")
        return None
    if tenant_id is None or not isinstance(tenant_id, str) or not tenant_id.strip():
        raise TenantRequired(f"{job_type.key} is a user job: tenant_id is required")
    if len(tenant_id) > TENANT_MAX_LENGTH or "\x00" in tenant_id:
        raise TenantRequired(f"tenant_id must be 1-{TENANT_MAX_LENGTH} characters")
    return tenant_id


def check_envelope_text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > ENVELOPE_TEXT_MAX_LENGTH or "\x00" in value:
        raise InvalidPayload(f"{name} must be text of at most {ENVELOPE_TEXT_MAX_LENGTH} chars")
    return value


def encode_payload(job_type: JobType, payload: Any, max_bytes: int) -> str:
    """Validate ``payload`` against the type's model and return it as capped JSON text.

    Raises:
        InvalidPayload: not a JSON object, fails the model, or holds what jsonb cannot store.
        PayloadTooLarge: the encoded payload is over ``max_bytes``.
    """
    if type(payload) is dict:  # the common case, without the ABC checks below
        data: Any = payload
    elif isinstance(payload, BaseModel):
        if job_type.payload_model is not None and not isinstance(payload, job_type.payload_model):
            raise InvalidPayload(
                f"{job_type.key} expects {job_type.payload_model.__name__}, "
                f"got {type(payload).__name__}"
            )
        data = payload.model_dump(mode="json")
    elif isinstance(payload, Mapping):
        data = dict(payload)
    elif payload is None:
        data = {}
    else:
        raise InvalidPayload("payload must be a JSON object or a Pydantic model")
    if job_type.payload_model is not None:
        data = job_type.parse_payload(data).model_dump(mode="json")
    return encode_json(data, max_bytes, what="payload")


def _make_encoder() -> Callable[[Any], str]:
    """Compact JSON, non-ASCII kept, NaN and infinities refused. ``JSONEncoder.encode``
    builds its C encoder again on every call (most of the cost of a small payload); this one
    is built once. It keeps no circular-reference table between calls, so a circular value
    ends in RecursionError, which ``encode_json`` reports as invalid."""
    options = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard path
        return options.encode
    chunks = make(
        None,  # no circular-reference table to carry between calls
        options.default,
        json.encoder.encode_basestring,
        None,  # no indent
        options.key_separator,
        options.item_separator,
        options.sort_keys,
        options.skipkeys,
        options.allow_nan,
    )
    return lambda data: "".join(chunks(data, 0))


_encode = _make_encoder()


def encode_json(data: Any, max_bytes: int, *, what: str) -> str:
    """JSON text that PostgreSQL's jsonb accepts, at most ``max_bytes`` of UTF-8."""
    try:
        text = _encode(data)
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as error:
        raise InvalidPayload(f"{what} is not valid JSON: {error}") from None
    if "\\u0000" in text:
        raise InvalidPayload(f"{what} contains a NUL character, which PostgreSQL cannot store")
    if size > max_bytes:
        raise PayloadTooLarge(f"{what} is {size} bytes; the limit is {max_bytes}")
    return text


def _payload_model_of(handler: Handler, key: str) -> type[BaseModel] | None:
    try:
        hints = typing.get_type_hints(handler)
    except Exception as error:
        raise JobTypeError(f"{key}: cannot read the handler's type hints: {error}") from None
    parameters = [p for p in inspect.signature(handler).parameters if p != "return"]
    if len(parameters) != 2:
        raise JobTypeError(f"{key}: a handler takes (ctx, payload)")
    annotation = hints.get(parameters[1])
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]}
        for item in error.errors()
    ]


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    place = ".".join(str(p) for p in item["loc"]) or "payload"
    return f"{place}: {item['msg']}"
