"""W3C trace context: parse a ``traceparent`` and make ids when none came in."""

from __future__ import annotations

import re

from rota.core.ids import new_trace_id

__all__ = ["new_trace_id", "trace_id_of"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id inside a valid ``traceparent``, else None."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or match.group(2) == "0" * 32 or match.group(1) == "ff":
        return None
    return match.group(2)
