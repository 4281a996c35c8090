from __future__ import annotations

from rota.core.tracing import new_trace_id, trace_id_of


def test_trace_id_is_taken_from_a_valid_traceparent() -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_id_of(header) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_invalid_traceparents_give_no_trace_id() -> None:
    assert trace_id_of("garbage") is None
    assert trace_id_of("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id_of(None) is None


def test_new_trace_ids_are_w3c_shaped_and_unique() -> None:
    first, second = new_trace_id(), new_trace_id()
    assert len(first) == 32
    assert int(first, 16) >= 0
    assert first != second
