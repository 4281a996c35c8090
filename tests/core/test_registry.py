from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from rota.core.registry import Registry, check_tenant, encode_payload
from rota.core.retry import Backoff
from rota.errors import (
    InvalidPayload,
    JobTypeError,
    PayloadTooLarge,
    TenantRequired,
    UnknownJobType,
)


class Order(BaseModel):
    order_id: str
    amount: int


async def handle_order(ctx: Any, payload: Order) -> None:
    return None


def register(
    registry: Registry, key: str = "orders.ship", handler: Any = handle_order, **options: Any
) -> Any:
    defaults: dict[str, Any] = {
        "queue": "default",
        "max_attempts": 3,
        "timeout": timedelta(seconds=10),
        "concurrency": None,
        "priority": 0,
        "backoff": Backoff(),
        "is_system": False,
    }
    return registry.register(key, handler, **{**defaults, **options})


def free_form() -> Any:
    """A type with no payload model: any JSON object is its payload."""
    return register(
        Registry(),
        "free.form",
        lambda ctx, payload: None,
        max_attempts=1,
        timeout=timedelta(seconds=1),
    )


def test_payload_model_is_read_from_the_handler_signature() -> None:
    job_type = register(Registry())
    assert job_type.payload_model is Order
    assert job_type.is_async


@pytest.mark.parametrize("key", ["", "Upper.case", "spaces here", "x" * 129, "-leading"])
def test_malformed_type_keys_are_rejected_at_registration(key: str) -> None:
    with pytest.raises(JobTypeError):
        register(Registry(), key)


def test_duplicate_type_is_rejected() -> None:
    registry = Registry()
    register(registry)
    with pytest.raises(JobTypeError, match="twice"):
        register(registry)


def test_unknown_type_lookup_raises_unknown_job_type() -> None:
    with pytest.raises(UnknownJobType) as caught:
        Registry().get("nope")
    assert caught.value.code == "unknown_job_type"


def test_user_job_without_tenant_is_rejected() -> None:
    job_type = register(Registry())
    with pytest.raises(TenantRequired):
        check_tenant(job_type, None)
    with pytest.raises(TenantRequired):
        check_tenant(job_type, "   ")


def test_system_job_takes_no_tenant() -> None:
    job_type = register(Registry(), is_system=True)
    assert check_tenant(job_type, None) is None
    with pytest.raises(TenantRequired):
        check_tenant(job_type, "acme")


def test_payload_is_validated_against_the_model() -> None:
    job_type = register(Registry())
    with pytest.raises(InvalidPayload) as caught:
        encode_payload(job_type, {"order_id": "o1", "amount": "lots"}, 1024)
    assert caught.value.details["errors"][0]["field"] == "amount"


def test_payload_over_the_cap_is_rejected() -> None:
    job_type = free_form()
    encode_payload(job_type, {"blob": "x" * 80}, 100)
    with pytest.raises(PayloadTooLarge):
        encode_payload(job_type, {"blob": "x" * 100}, 100)


def test_nul_characters_are_rejected_before_the_database_sees_them() -> None:
    job_type = free_form()
    with pytest.raises(InvalidPayload, match="NUL"):
        encode_payload(job_type, {"text": "a\x00b"}, 1024)
    with pytest.raises(InvalidPayload):
        encode_payload(job_type, {"text": "\ud800"}, 1024)


def test_payloads_are_compact_json_and_what_jsonb_cannot_hold_is_refused() -> None:
    job_type = free_form()
    payload = {"name": "Zoë", "n": [1, 2.5, None, True], "nested": {"k": '"q" \\ \u2028'}}
    assert encode_payload(job_type, payload, 1024) == (
        '{"name":"Zoë","n":[1,2.5,null,true],"nested":{"k":"\\"q\\" \\\\ \u2028"}}'
    )
    circular: dict[str, Any] = {}
    circular["self"] = circular
    for bad in ({"x": float("nan")}, {"x": float("inf")}, {"x": object()}, circular):
        with pytest.raises(InvalidPayload):
            encode_payload(job_type, bad, 1024)
    # A refused payload leaves nothing behind: the next one encodes as usual.
    assert encode_payload(job_type, {"again": 1}, 1024) == '{"again":1}'
