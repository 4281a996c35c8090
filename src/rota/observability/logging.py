"""JSON logs: one line per event, carrying the job's fields so a trace id finds its lines.

Fields are fixed: ``job_id``, ``type``, ``queue``, ``tenant_id``, ``actor_id``, ``attempt``,
``run_id``, ``trace_id``, ``request_id``. Inside a handler they come from a context variable
set by the executor, so any logger the handler uses carries them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

JOB_FIELDS = (
    "job_id",
    "type",
    "queue",
    "tenant_id",
    "actor_id",
    "attempt",
    "run_id",
    "trace_id",
    "request_id",
)

_job_fields: ContextVar[Mapping[str, Any] | None] = ContextVar("rota_job_fields", default=None)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def set_job_fields(fields: Mapping[str, Any]) -> None:
    """Attach a job's fields to every log line from here on in this context: for a task of
    its own (each run), whose context ends with it, without a block to leave."""
    _job_fields.set(fields)


def current_job_fields() -> Mapping[str, Any] | None:
    return _job_fields.get()


class JobFieldsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _job_fields.get()
        if fields:
            for key, value in fields.items():
                if not hasattr(record, key):
                    setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and value is not None:
                line[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _RESERVED and not key.startswith("_") and value is not None
        )
        base = f"{record.levelname.lower():7} {record.name}: {record.getMessage()}"
        text = f"{base} {extras}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Send rota's (and handlers') log lines to ``stream`` (stderr) as JSON or text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(JobFieldsFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_rota", False):
            root.removeHandler(existing)
    handler._rota = True  # type: ignore[attr-defined]  # marks our handler for reconfiguration
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("psycopg").setLevel(logging.WARNING)
